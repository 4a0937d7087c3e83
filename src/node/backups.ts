/**
 * The retention rule of backups that hold secrets (old CA and service-account keys, copies of
 * the datastore with every Secret): after a new backup is written, only the newest BACKUPS_KEPT
 * of its kind stay. A kind is the folder the backups sit in and their name prefix; their names
 * carry a UTC time stamp (YYYY-MM-DDThhmm... or YYYYMMDDThhmm...), whose order is their age order.
 *
 * Where: refresh-certs (<certs>-backup-<UTC>, next to the certs folder), quorum-loss recovery
 * (<data dir>.backup-<UTC>), leave (<folder>-before-leave-<UTC>), the pre-refresh keyspace
 * backups ($SNAP_COMMON/backups/pre-refresh-r<revision>-<UTC>.json).
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** Backups of one kind kept; older ones are removed when a new one is written. */
export const BACKUPS_KEPT = 3;

/** The time stamp in a backup's name and what follows it (a label before it may hold numbers). */
function stampOf(name: string): string {
  const at = name.search(/\d{4}-?\d{2}-?\d{2}T\d{4}/);
  return at < 0 ? name : name.slice(at);
}

/**
 * Remove all but the newest `keep` entries of `dir` whose name starts with `prefix`; returns the
 * removed paths. A missing folder has nothing to prune.
 */
export function pruneBackups(dir: string, prefix: string, keep: number = BACKUPS_KEPT): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.startsWith(prefix));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  names.sort((a, b) => stampOf(a).localeCompare(stampOf(b)) || a.localeCompare(b));
  const removed: string[] = [];
  for (const name of names.slice(0, Math.max(0, names.length - keep))) {
    const path = join(dir, name);
    rmSync(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}
