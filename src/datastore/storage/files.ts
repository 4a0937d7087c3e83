/**
 * File names of the log directory and the few durable file operations everything else builds on.
 * Names are fixed-width so that a plain sort is the log order.
 */
import { writeSync } from 'node:fs';
import { type FileHandle, open, rename } from 'node:fs/promises';
import { join } from 'node:path';

export const META_FILE = 'meta.json';
/** Suffix of files being written; such a file is never part of the durable state. */
export const TEMP_SUFFIX = '.tmp';

const SEQ_DIGITS = 16;
const SEGMENT_RE = /^(\d{16})\.seg$/;
const SNAPSHOT_DATA_RE = /^snapshot-(\d{16})-(\d{16})\.data$/;

function pad(n: number): string {
  return String(n).padStart(SEQ_DIGITS, '0');
}

export function segmentName(seq: number): string {
  return `${pad(seq)}.seg`;
}

export function parseSegmentName(name: string): number | undefined {
  const m = SEGMENT_RE.exec(name);
  return m ? Number(m[1]) : undefined;
}

export function snapshotDataName(index: number, term: number): string {
  return `snapshot-${pad(index)}-${pad(term)}.data`;
}

export function isSnapshotDataName(name: string): boolean {
  return SNAPSHOT_DATA_RE.test(name);
}

/** Counts every fsync/fdatasync so that stats() can show how well group commit works. */
export interface SyncCounter {
  fsyncs: number;
}

/** Make a directory's entries (created, renamed, removed files) durable. */
export async function fsyncDir(dir: string, counter: SyncCounter): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
    counter.fsyncs++;
  } finally {
    await fh.close();
  }
}

/**
 * Replace `name` in `dir` atomically and durably: write a temporary file, fsync it, rename it over
 * the old one, fsync the directory. A crash leaves either the old or the new file, never a mix.
 */
export async function writeFileAtomic(
  dir: string,
  name: string,
  data: Uint8Array,
  counter: SyncCounter,
): Promise<void> {
  const temp = join(dir, `${name}${TEMP_SUFFIX}`);
  const fh = await open(temp, 'w');
  try {
    await writeFully(fh, data, 0);
    await fh.sync();
    counter.fsyncs++;
  } finally {
    await fh.close();
  }
  await rename(temp, join(dir, name));
  await fsyncDir(dir, counter);
}

/** write() may write less than asked (a full disk, a signal): loop until everything is written. */
export async function writeFully(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.byteLength) {
    const { bytesWritten } = await fh.write(data, done, data.byteLength - done, position + done);
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
