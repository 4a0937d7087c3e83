/**
 * The repositories added to this node (`microk8s addons repo add NAME PATH`): a small JSON list
 * under $SNAP_COMMON/addons, written atomically under a lock. A repository is checked (its
 * index parsed, its addon folders present) before it is recorded; the core repository is
 * built in and can be neither added nor removed.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { writeFileAtomicSync } from '../node/atomic-write.js';
import { withFileLock } from '../node/lock.js';
import { coreRepository, loadRepository, type Repository } from './repository.js';

export interface RepositoryRecord {
  readonly name: string;
  readonly path: string;
}

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function storeDir(paths: Paths): string {
  return join(paths.common, 'addons');
}

function storeFile(paths: Paths): string {
  return join(storeDir(paths), 'repositories.json');
}

export function readRepositoryRecords(paths: Paths): RepositoryRecord[] {
  let text: string;
  try {
    text = readFileSync(storeFile(paths), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  try {
    const list = JSON.parse(text) as RepositoryRecord[];
    if (!Array.isArray(list)) throw new Error('not a list');
    return list.filter((r) => typeof r?.name === 'string' && typeof r?.path === 'string');
  } catch (error) {
    throw new MicroK8sError(
      'MK_ADDON_REPOSITORY',
      `${storeFile(paths)} is damaged: ${(error as Error).message}`,
    );
  }
}

async function editRecords(
  paths: Paths,
  edit: (records: RepositoryRecord[]) => RepositoryRecord[],
): Promise<void> {
  mkdirSync(storeDir(paths), { recursive: true });
  await withFileLock(join(storeDir(paths), 'repositories.lock'), () => {
    const next = edit(readRepositoryRecords(paths));
    writeFileAtomicSync(storeFile(paths), `${JSON.stringify(next, null, 2)}\n`);
  });
}

export async function addRepository(paths: Paths, name: string, path: string): Promise<Repository> {
  if (!NAME_RE.test(name) || name === 'core')
    throw new MicroK8sError(
      'MK_ADDON_REPOSITORY',
      `'${name}' cannot name a repository (lowercase letters, digits, '-'; not 'core')`,
    );
  const dir = isAbsolute(path) ? path : resolve(path);
  const repo = loadRepository(name, dir);
  await editRecords(paths, (records) => {
    if (records.some((r) => r.name === name))
      throw new MicroK8sError('MK_ADDON_REPOSITORY', `a repository named '${name}' exists; remove it first`);
    return [...records, { name, path: dir }];
  });
  return repo;
}

export async function removeRepository(paths: Paths, name: string): Promise<void> {
  await editRecords(paths, (records) => {
    if (!records.some((r) => r.name === name))
      throw new MicroK8sError('MK_ADDON_UNKNOWN', `no added repository '${name}'`, { repository: name });
    return records.filter((r) => r.name !== name);
  });
}

/** The repositories this node knows, in lookup order: core, then those added here. */
export function repositories(paths?: Paths): Repository[] {
  const added = paths ? readRepositoryRecords(paths).map((r) => loadRepository(r.name, r.path)) : [];
  return [coreRepository(), ...added];
}
