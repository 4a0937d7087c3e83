/**
 * Bringing a log directory to a state the writer can append to: bootstrap a brand-new one, or
 * recover an existing one and then apply recovery's actions (cut a torn tail, give a freshly
 * created segment its header, remove superseded files). Actions run only after recovery has
 * checked the whole directory, so a corrupt one is never touched.
 */
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { MicroK8sError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { ConfState } from '../raft/types.js';
import { fsyncDir, META_FILE, type SyncCounter, segmentName, writeFileAtomic, writeFully } from './files.js';
import { encodeMeta, type LogMeta } from './meta.js';
import { encodeBatch, encodeHeader } from './records.js';
import { type DirListing, listLogDir, type Recovery, recover, ZERO_HARD_STATE } from './recover.js';
import { type SegmentScan, scanSegment } from './segment-scan.js';

export interface StartupOptions {
  readonly bootstrap: ConfState;
  /** The largest record the reader accepts (see READ_MAX_RECORD_BYTES). */
  readonly maxRecordBytes: number;
  readonly logger: Logger;
  readonly counter: SyncCounter;
}

export async function startLogDir(dir: string, options: StartupOptions): Promise<Recovery> {
  await makeDirDurably(dir, options.counter);
  const listing = await listLogDir(dir);
  let recovery: Recovery;
  if (listing.hasMeta) {
    recovery = await recover(dir, listing, options.maxRecordBytes);
  } else {
    if (!(await isUnfinishedBootstrap(dir, listing, options.maxRecordBytes))) {
      const path = join(dir, META_FILE);
      throw new MicroK8sError('MK_DATA_CORRUPTION', `${path} is missing but the directory holds log files`, {
        file: path,
      });
    }
    recovery = await bootstrap(dir, options, listing.tempFiles);
  }
  await applyRecovery(dir, recovery, options);
  return recovery;
}

/**
 * Create `dir` (and missing parents) and fsync each new directory's parent: otherwise a crash
 * could lose the directory itself, with everything acknowledged inside it.
 */
async function makeDirDurably(dir: string, counter: SyncCounter): Promise<void> {
  const firstCreated = await mkdir(dir, { recursive: true });
  if (firstCreated === undefined) return;
  for (let path = resolve(dir); ; path = dirname(path)) {
    await fsyncDir(dirname(path), counter);
    if (path === resolve(firstCreated) || dirname(path) === path) break;
  }
}

/**
 * No meta file: either a new directory, or a bootstrap cut by a crash after it wrote segment 1
 * and before the meta file. Nothing is acknowledged before the meta file exists, so the latter
 * holds at most a header with the zero hard state; anything more means the meta file was lost.
 */
async function isUnfinishedBootstrap(
  dir: string,
  listing: DirListing,
  maxRecordBytes: number,
): Promise<boolean> {
  if (listing.dataFiles.length > 0) return false;
  if (listing.segments.length === 0) return true;
  if (listing.segments.length > 1 || listing.segments[0] !== 1) return false;
  const path = join(dir, segmentName(1));
  let scan: SegmentScan;
  try {
    scan = scanSegment(await readFile(path), path, true, maxRecordBytes);
  } catch {
    return false;
  }
  if (scan.records.length === 0) return true;
  const only = scan.records[0]!.record;
  return (
    scan.records.length === 1 &&
    only.kind === 'header' &&
    only.hardState.term === 0 &&
    only.hardState.vote === 0 &&
    only.hardState.commit === 0
  );
}

/**
 * A brand-new log: segment 1 with its header first, then the meta file, which is the commit point
 * of the bootstrap (see isUnfinishedBootstrap).
 */
async function bootstrap(dir: string, options: StartupOptions, tempFiles: string[]): Promise<Recovery> {
  const meta: LogMeta = {
    snapshot: { index: 0, term: 0, conf: options.bootstrap },
    compacted: { index: 0, term: 0 },
    firstSegment: 1,
    data: null,
  };
  const header = encodeBatch(0, [encodeHeader(1, ZERO_HARD_STATE)]);
  const fh = await open(join(dir, segmentName(1)), 'w');
  try {
    await writeFully(fh, header, 0);
    await fh.datasync();
    options.counter.fsyncs++;
  } finally {
    await fh.close();
  }
  await fsyncDir(dir, options.counter);
  await writeFileAtomic(dir, META_FILE, encodeMeta(meta), options.counter);
  options.logger.info('created a new raft log', { dir, members: options.bootstrap.members.length });
  return {
    meta,
    hardState: ZERO_HARD_STATE,
    entries: [],
    segments: [{ seq: 1, bytes: header.length, allocated: header.length, maxIndex: 0 }],
    needsHeader: false,
    // The meta's own temporary file was just consumed by the rename.
    leftovers: tempFiles,
  };
}

async function applyRecovery(dir: string, recovery: Recovery, options: StartupOptions): Promise<void> {
  const { logger, counter } = options;
  const { torn } = recovery;
  if (torn) {
    logger.warn('truncated a torn tail of the raft log (an unacknowledged write cut by a crash)', {
      file: torn.file,
      validBytes: torn.validBytes,
      fileBytes: torn.fileBytes,
      droppedBytes: torn.fileBytes - torn.validBytes,
      reason: torn.reason,
    });
    const fh = await open(torn.file, 'r+');
    try {
      await fh.truncate(torn.validBytes);
      await fh.datasync();
      counter.fsyncs++;
    } finally {
      await fh.close();
    }
  }
  if (recovery.needsHeader) {
    const last = recovery.segments[recovery.segments.length - 1]!;
    // 'w' creates the file or empties it (it held at most a torn header).
    const fh = await open(join(dir, segmentName(last.seq)), 'w');
    try {
      const header = encodeBatch(0, [encodeHeader(last.seq, recovery.hardState)]);
      await writeFully(fh, header, 0);
      await fh.datasync();
      counter.fsyncs++;
      last.bytes = header.length;
      last.allocated = header.length;
    } finally {
      await fh.close();
    }
    await fsyncDir(dir, counter);
  }
  if (recovery.leftovers.length > 0) {
    // Best effort: a file that cannot be removed now is only wasted space, retried at the next open.
    for (const name of recovery.leftovers) {
      await unlink(join(dir, name)).catch((error: unknown) => {
        logger.warn('could not remove a leftover log file', { file: join(dir, name), error });
      });
    }
    await fsyncDir(dir, counter);
    logger.info('removed files left over from finished compactions, snapshots or interrupted writes', {
      dir,
      files: recovery.leftovers,
    });
  }
}
