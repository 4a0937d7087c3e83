/**
 * File helpers of the cluster layer (PKI, join tokens): private modes and scratch folders next to
 * the destination (same filesystem, so a rename is atomic), so a crash never leaves a half-written
 * key, certificate or kubeconfig behind. Atomic writes are src/node/atomic-write.ts.
 */
import { chmod, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

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

export async function fileMode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}
