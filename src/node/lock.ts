/**
 * A lock between processes (and between callers in one process) that cannot be taken twice: an
 * OS-level record lock (fcntl) on a lock file, held through an open descriptor. The kernel drops
 * it when its holder exits, however it exits, so there is no "owner died" case to clean up and
 * no stale-file takeover to race on.
 *
 * Node has no flock/fcntl of its own; SQLite (better-sqlite3, which the datastore already loads)
 * takes exactly such locks on its database file, so the lock file is an empty SQLite database
 * and "BEGIN EXCLUSIVE" is the lock. SQLite also tracks the locks of one inode inside a process,
 * so a second caller in the same process waits like any other process. The journal stays in
 * memory, so no file besides the lock file is ever created.
 *
 * Rules that keep it sound: a lock file is never removed or replaced (a waiter could be locking
 * the old inode), and no code reads it (closing any descriptor of the file would drop fcntl
 * locks). A file left by the pid-file lock of earlier versions is emptied in place (same inode),
 * which turns it into a lock file of this kind.
 */
import { truncateSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type BetterSqlite3 from 'better-sqlite3';
import { MicroK8sError } from '../lib/errors.js';

export const LOCK_LIMITS = {
  /** How long a caller waits for the lock by default. */
  defaultWaitMs: 10_000,
  /** How often a waiter tries again (the kernel has no wake-up for fcntl polling). */
  pollMs: 10,
} as const;

export interface HeldLock {
  readonly path: string;
  /** Let go of the lock (idempotent). */
  release(): void;
}

type DatabaseClass = typeof BetterSqlite3;
let databaseClass: DatabaseClass | undefined;

async function loadDatabase(): Promise<DatabaseClass> {
  // Loaded on first use: commands that never lock do not load the native module.
  databaseClass ??= (await import('better-sqlite3')).default;
  return databaseClass;
}

type Attempt = 'held' | 'busy';

function tryLock(db: BetterSqlite3.Database, path: string): Attempt {
  try {
    db.pragma('journal_mode = MEMORY');
    db.exec('BEGIN EXCLUSIVE');
    return 'held';
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return 'busy';
    if (code === 'SQLITE_NOTADB') {
      // A pid-file lock of an earlier version, left by a holder that died: empty it in place.
      truncateSync(path, 0);
      return 'busy';
    }
    throw new MicroK8sError('MK_INTERNAL', `cannot lock ${path}: ${(error as Error).message}`, {
      file: path,
    });
  }
}

/** Take the lock at `path` (the file is created when missing), waiting at most `waitMs`. */
export async function acquireFileLock(
  path: string,
  waitMs: number = LOCK_LIMITS.defaultWaitMs,
): Promise<HeldLock> {
  const Database = await loadDatabase();
  const deadline = Date.now() + waitMs;
  let db: BetterSqlite3.Database;
  try {
    db = new Database(path, { timeout: 0 });
  } catch (error) {
    throw new MicroK8sError(
      'MK_INVALID_CONFIG',
      `cannot open the lock file ${path}: ${(error as Error).message}`,
      {
        file: path,
      },
    );
  }
  try {
    while (tryLock(db, path) === 'busy') {
      if (Date.now() >= deadline) {
        throw new MicroK8sError('MK_TIMEOUT', `another process holds the lock ${path}`, { file: path });
      }
      await sleep(LOCK_LIMITS.pollMs);
    }
  } catch (error) {
    db.close();
    throw error;
  }
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      db.exec('ROLLBACK');
      db.close();
    },
  };
}

/** Run `body` holding the lock at `path`. Not reentrant: taking it again inside waits for itself. */
export async function withFileLock<T>(
  path: string,
  body: () => Promise<T> | T,
  waitMs: number = LOCK_LIMITS.defaultWaitMs,
): Promise<T> {
  const lock = await acquireFileLock(path, waitMs);
  try {
    return await body();
  } finally {
    lock.release();
  }
}
