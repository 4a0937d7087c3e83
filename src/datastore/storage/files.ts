/**
 * File names of the log directory and the few durable file operations everything else builds on.
 * Names are fixed-width so that a plain sort is the log order.
 */
import { join } from 'node:path';
import {
  fsyncDirectory,
  TEMP_SUFFIX,
  writeFileAtomic as writeFileAtomicOnce,
} from '../../node/atomic-write.js';

export { writeFully, writeFullySync } from '../../node/atomic-write.js';
export { TEMP_SUFFIX };

export const META_FILE = 'meta.json';

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
  await fsyncDirectory(dir, () => counter.fsyncs++);
}

/** Mode of the meta and snapshot files (written with an explicit mode, which the umask does not touch). */
const RAFT_FILE_MODE = 0o600;

/** Replace `name` in `dir` atomically and durably (the one helper, src/node/atomic-write.ts). */
export async function writeFileAtomic(
  dir: string,
  name: string,
  data: Uint8Array,
  counter: SyncCounter,
): Promise<void> {
  // The Raft log's files are the datastore's own (its meta names members, snapshots hold every
  // Secret): 0600, as the daemon's umask makes everything else it creates.
  await writeFileAtomicOnce(join(dir, name), data, { mode: RAFT_FILE_MODE, onFsync: () => counter.fsyncs++ });
}
