/**
 * Numbered migrations of a node's local state (the node record, the args files), run by the
 * post-refresh and configure hooks. Each has three steps: prepare (check it can run and save
 * the files it changes), commit (change them), rollback (put the saved files back). A failed
 * commit rolls back that migration and every one committed before it in the same run, newest
 * first, so the node stays on its data as it was; the run then fails with MK_MIGRATION_FAILED.
 * Which migrations are done is kept in $SNAP_DATA/migrations.json (per revision, as snapd copies
 * SNAP_DATA on refresh: a `snap revert` finds the old revision's list beside its old data).
 */
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from '../lib/assert.js';
import { MicroK8sError } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import type { Paths } from '../lib/paths.js';
import { writeFileAtomic } from '../node/atomic-write.js';
import { nodeRecordPath, stepNodeRecordForward } from '../node/record.js';

export interface Migration {
  /** Its number: ascending, never reused. */
  readonly id: number;
  readonly name: string;
  /** The files commit may change (saved by prepare, restored by rollback). */
  readonly files: (paths: Paths) => string[];
  /** Refuses (throws) when the node is not in a state it can migrate; changes nothing. */
  readonly check?: (paths: Paths) => void;
  readonly commit: (paths: Paths) => Promise<void>;
}

/** The migrations of this version, in order. */
export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'node record schema 1 -> 2 (writtenBy)',
    files: (paths) => [nodeRecordPath(paths)],
    commit: async (paths) => {
      await stepNodeRecordForward(paths);
    },
  },
];

const log = createLogger('migrations');

export function migrationsFile(paths: Paths): string {
  return join(paths.data, 'migrations.json');
}

export function appliedMigrations(paths: Paths): number[] {
  const file = migrationsFile(paths);
  if (!existsSync(file)) return [];
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { applied?: unknown };
  if (!Array.isArray(parsed.applied) || !parsed.applied.every(Number.isInteger)) {
    throw new MicroK8sError('MK_DATA_CORRUPTION', `${file} has no list of applied migrations`, { file });
  }
  return parsed.applied as number[];
}

async function writeApplied(paths: Paths, applied: readonly number[]): Promise<void> {
  await writeFileAtomic(
    migrationsFile(paths),
    `${JSON.stringify({ applied: [...applied].sort((a, b) => a - b) })}\n`,
  );
}

/** A file as it was before a commit: its bytes and mode, or absent. */
interface Saved {
  readonly path: string;
  readonly bytes?: Buffer;
  readonly mode?: number;
}

function prepare(paths: Paths, migration: Migration): Saved[] {
  migration.check?.(paths);
  return migration
    .files(paths)
    .map((path) =>
      existsSync(path) ? { path, bytes: readFileSync(path), mode: statSync(path).mode & 0o7777 } : { path },
    );
}

async function rollback(saved: readonly Saved[]): Promise<void> {
  for (const file of saved) {
    if (file.bytes === undefined) rmSync(file.path, { force: true });
    else await writeFileAtomic(file.path, file.bytes, { mode: file.mode });
  }
}

export interface MigrationRun {
  readonly applied: number[];
  readonly alreadyApplied: number[];
}

/** Runs the migrations not yet applied, in order; all or none of them stay committed. */
export async function runMigrations(
  paths: Paths,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrationRun> {
  const done = appliedMigrations(paths);
  const pending = migrations.filter((m) => !done.includes(m.id)).sort((a, b) => a.id - b.id);
  assert(new Set(migrations.map((m) => m.id)).size === migrations.length, 'migration ids are unique');
  const committed: { migration: Migration; saved: Saved[] }[] = [];
  for (const migration of pending) {
    const saved = prepare(paths, migration);
    try {
      await migration.commit(paths);
      committed.push({ migration, saved });
      log.info('migration committed', { id: migration.id, name: migration.name });
    } catch (error) {
      await rollback(saved);
      for (const earlier of committed.reverse()) await rollback(earlier.saved);
      log.error('migration failed, rolled back', { id: migration.id, error: (error as Error).message });
      throw new MicroK8sError(
        'MK_MIGRATION_FAILED',
        `migration ${migration.id} (${migration.name}) failed: ${(error as Error).message}; ` +
          `${committed.length + 1} migration(s) rolled back`,
        { migration: migration.id },
        { cause: error },
      );
    }
  }
  const applied = committed.map((c) => c.migration.id);
  // The commit point of the whole run: until this write, a crash leaves the list as it was and
  // the next run prepares again from the (migrated or not) files.
  if (applied.length > 0) await writeApplied(paths, [...done, ...applied]);
  return { applied, alreadyApplied: done };
}
