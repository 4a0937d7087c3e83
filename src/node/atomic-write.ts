/**
 * The one way this project replaces a file: write a uniquely named temporary file beside it (same
 * filesystem, so the rename is atomic), fsync it, rename it over the old file, fsync the
 * directory. A crash leaves the old file or the new one, never a mix, and once the call returns
 * the new one survives a power cut. Temporary names end in `.tmp` so a reader that sweeps
 * leftovers can recognise them.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export const DEFAULT_FILE_MODE = 0o644;
export const TEMP_SUFFIX = '.tmp';

export interface AtomicWriteOptions {
  /** The file's mode (kept exactly: the umask does not apply). Default 0644. */
  readonly mode?: number;
  /** Told about every fsync (the durable log counts them). */
  readonly onFsync?: () => void;
}

/** A temporary name beside `path` that no other writer (process or call) picks. */
export function tempPathFor(path: string): string {
  return join(
    dirname(path),
    `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`,
  );
}

/** Make a directory's entries (created, renamed, removed files) durable. */
export async function fsyncDirectory(dir: string, onFsync?: () => void): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
    onFsync?.();
  } finally {
    await handle.close();
  }
}

export function fsyncDirectorySync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** write() may write less than asked (a full disk, a signal): loop until everything is written. */
export async function writeFully(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.byteLength) {
    const { bytesWritten } = await handle.write(data, done, data.byteLength - done, position + done);
    if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten} at ${position + done}`);
    done += bytesWritten;
  }
}

/** writeFully, synchronously: for small writes that only copy into the page cache. */
export function writeFullySync(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.byteLength) {
    const written = writeSync(fd, data, done, data.byteLength - done, position + done);
    if (written <= 0) throw new Error(`write returned ${written} at ${position + done}`);
    done += written;
  }
}

function bytesOf(data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

/** Replace `path` with `data` atomically and durably. */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const mode = options.mode ?? DEFAULT_FILE_MODE;
  const temp = tempPathFor(path);
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.chmod(mode); // the umask only removes bits
      await writeFully(handle, bytesOf(data), 0);
      await handle.sync();
      options.onFsync?.();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDirectory(dirname(path), options.onFsync);
}

/** writeFileAtomic, synchronously (a caller that cannot wait, e.g. under a synchronous edit). */
export function writeFileAtomicSync(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): void {
  const mode = options.mode ?? DEFAULT_FILE_MODE;
  const temp = tempPathFor(path);
  try {
    const fd = openSync(temp, 'wx', mode);
    try {
      fchmodSync(fd, mode);
      writeFullySync(fd, bytesOf(data), 0);
      fsyncSync(fd);
      options.onFsync?.();
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  fsyncDirectorySync(dirname(path));
  options.onFsync?.();
}
