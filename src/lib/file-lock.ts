/**
 * A lock file: created with O_EXCL holding the owner's pid, removed when the body ends. A lock
 * whose owner died is taken over. Not reentrant: a process that takes it twice waits for itself
 * until the wait runs out.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { MicroK8sError } from './errors.js';
import { isProcessAlive } from './process.js';

const DEFAULT_WAIT_MS = 10_000;
const LOCK_POLL_MS = 50;
const LOCK_FILE_MODE = 0o600;

export async function withFileLock<T>(
  path: string,
  body: () => Promise<T>,
  waitMs: number = DEFAULT_WAIT_MS,
): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const handle = await open(path, 'wx', LOCK_FILE_MODE);
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && owner > 0 && !isProcessAlive(owner)) {
        await rm(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new MicroK8sError('MK_TIMEOUT', `another process holds ${path} (pid ${owner || 'unknown'})`);
      }
      await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
    }
  }
  try {
    return await body();
  } finally {
    await rm(path, { force: true });
  }
}
