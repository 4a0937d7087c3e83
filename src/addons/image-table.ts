/**
 * The images table as this node uses it: the built-in mappings (upstream name -> the local
 * build that stands in for it, services/images/names.ts) with the user's overrides on top
 * (`microk8s addons images set UPSTREAM LOCAL`), for an offline mirror or images imported by
 * hand. The overrides are one JSON file under $SNAP_COMMON/addons, its only writer this
 * module, written atomically under a lock. Both names must be full image references.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { writeFileAtomicSync } from '../node/atomic-write.js';
import { withFileLock } from '../node/lock.js';
import { LOCAL_IMAGE_TABLE, parseImageName } from '../services/images/names.js';

export type ImageTable = Readonly<Record<string, string>>;

function tableFile(paths: Paths): string {
  return join(paths.common, 'addons', 'images.json');
}

/** The user's overrides (none when the file does not exist). */
export function readImageOverrides(paths: Paths): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(tableFile(paths), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a mapping');
    const out: Record<string, string> = {};
    for (const [upstream, local] of Object.entries(value)) {
      if (typeof local !== 'string') throw new Error(`${upstream} maps to a ${typeof local}`);
      out[upstream] = local;
    }
    return out;
  } catch (error) {
    throw new MicroK8sError(
      'MK_INVALID_CONFIG',
      `${tableFile(paths)} is damaged: ${(error as Error).message}`,
    );
  }
}

/** The table renders use: built-in mappings, the user's overrides winning. */
export function effectiveImageTable(paths: Paths | undefined): ImageTable {
  return paths ? { ...LOCAL_IMAGE_TABLE, ...readImageOverrides(paths) } : LOCAL_IMAGE_TABLE;
}

async function editOverrides(
  paths: Paths,
  edit: (table: Record<string, string>) => Record<string, string>,
): Promise<void> {
  const file = tableFile(paths);
  mkdirSync(join(paths.common, 'addons'), { recursive: true });
  await withFileLock(`${file}.lock`, () => {
    const next = edit(readImageOverrides(paths));
    writeFileAtomicSync(file, `${JSON.stringify(next, null, 2)}\n`);
  });
}

/** Maps UPSTREAM to LOCAL on this node; both full references (MK_INVALID_ARGUMENT otherwise). */
export async function setImageMapping(paths: Paths, upstream: string, local: string): Promise<void> {
  parseImageName(upstream);
  parseImageName(local);
  if (upstream === local)
    throw new MicroK8sError('MK_INVALID_ARGUMENT', `'${upstream}' cannot map to itself`, { name: upstream });
  await editOverrides(paths, (table) => ({ ...table, [upstream]: local }));
}

/** Drops the user's override of UPSTREAM (a built-in mapping applies again). */
export async function unsetImageMapping(paths: Paths, upstream: string): Promise<void> {
  await editOverrides(paths, (table) => {
    if (!(upstream in table))
      throw new MicroK8sError(
        'MK_IMAGE_MAPPING_UNKNOWN',
        `no override for '${upstream}'${upstream in LOCAL_IMAGE_TABLE ? ' (its mapping is built in)' : ''}`,
        { name: upstream },
      );
    const { [upstream]: _, ...rest } = table;
    return rest;
  });
}

export interface ImageMapping {
  readonly upstream: string;
  /** The image used. */
  readonly local: string;
  /** Who set it: built in, or the user (also when it replaces a built-in mapping). */
  readonly source: 'built-in' | 'user';
  /** The built-in mapping a user override replaces. */
  readonly overrides?: string;
}

/** Every mapping, sorted by upstream name. */
export function listImageMappings(paths: Paths): ImageMapping[] {
  const user = readImageOverrides(paths);
  const names = [...new Set([...Object.keys(LOCAL_IMAGE_TABLE), ...Object.keys(user)])].sort();
  return names.map((upstream) => {
    const builtIn = LOCAL_IMAGE_TABLE[upstream];
    const mine = user[upstream];
    if (mine === undefined) return { upstream, local: builtIn!, source: 'built-in' as const };
    return { upstream, local: mine, source: 'user' as const, ...(builtIn ? { overrides: builtIn } : {}) };
  });
}
