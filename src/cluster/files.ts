/**
 * File helpers of the cluster layer (PKI, join tokens): private modes, a lock file, scratch folders next to the destination (same
 * filesystem, so rename is atomic) and atomic writes, so a crash never leaves a half-written
 * key, certificate or kubeconfig behind.
 */
import { chmod, mkdtemp, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MicroK8sError } from '../lib/errors.js';
import { isProcessAlive } from '../lib/process.js';

export const PRIVATE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;
export const PUBLIC_MODE = 0o644;

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

export async function withScratch<T>(dir: string, body: (scratch: string) => Promise<T>): Promise<T> {
  const scratch = await mkdtemp(join(dir, '.pki-'));
  try {
    await chmod(scratch, PRIVATE_DIR_MODE);
    return await body(scratch);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Create an empty file with mode 0600 for openssl to write a private key into: openssl keeps
 * the mode of an existing file, so the key is never readable by others, not even briefly.
 */
export async function createPrivateFile(path: string): Promise<void> {
  const handle = await open(path, 'wx', PRIVATE_MODE);
  await handle.close();
  await chmod(path, PRIVATE_MODE); // in case the umask removed bits we asked for (it only removes)
}

/** Write `data` to `path` through a temporary file created with `mode`, fsync'd, then renamed. */
export async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

export async function fileMode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

const LOCK_WAIT_MS = 10_000;
const LOCK_POLL_MS = 50;

/**
 * Run `body` holding the lock file `path` (created exclusively, holding our pid), for the
 * read-modify-write sequences several processes share: certificate and key pairs, the token
 * file. It also serialises callers within one process. A lock left by a dead process is taken
 * over.
 */
export async function withFileLock<T>(path: string, body: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const handle = await open(path, 'wx', PRIVATE_MODE);
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
