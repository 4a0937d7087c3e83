/**
 * The durable Raft log and hard state: RaftStorage for the core, plus the write side for the
 * node's Ready loop.
 *
 * Layout (chosen by measurement, see bench/log-layout.ts): append-only segment files of
 * checksummed records, written in batches (one per group commit, closed by a commit record) and
 * fdatasync'd into zero-filled preallocated space, and a small meta file rewritten atomically on
 * snapshot and compaction. The hard state is a record in the segments (the last one wins), so
 * the one fdatasync of a save covers entries and hard state together; a separate file would cost
 * a second fsync, a rename and a directory fsync on every vote and commit change. Every segment
 * starts with a header that repeats the hard state, so reclaiming old segments never loses it.
 *
 * Reads are synchronous and served from memory (the entries since the last compaction), as the
 * core requires. All state changes are applied in memory when called, in call order, and their
 * disk writes are queued in the same order; each promise resolves once its change is durable.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { assert } from '../../lib/assert.js';
import { MicroK8sError } from '../../lib/errors.js';
import { createLogger, type Logger } from '../../lib/log.js';
import type { RaftStorage } from '../raft/storage.js';
import type { ConfState, Entry, HardState, Snapshot, SnapshotMeta } from '../raft/types.js';
import type { SyncCounter } from './files.js';
import { READ_MAX_RECORD_BYTES, type StorageLimits, validateStorageLimits } from './limits.js';
import { encodeEntry, encodeHardState, entryRecordBytes } from './records.js';
import { startLogDir } from './startup.js';
import { EntryWindow } from './window.js';
import { SegmentWriter } from './writer.js';

export interface DurableLogOptions {
  logger?: Logger;
  /** Membership for a brand-new log. */
  bootstrap?: ConfState;
  segmentBytes?: number;
  /** Other limits (see StorageLimits); segmentBytes above wins over limits.segmentBytes. */
  limits?: Partial<StorageLimits>;
}

export interface DurableLogStats {
  /** Live segment files. */
  segments: number;
  /** Bytes of records in the live segment files (preallocated space not counted). */
  bytes: number;
  /** fsync/fdatasync calls since open (files and directories). */
  fsyncs: number;
  /** Entries held in memory (since the last compaction). */
  entries: number;
  /** save() calls since open; saves / flushes is the group commit factor. */
  saves: number;
  /** Rounds of write + fdatasync for saves. */
  flushes: number;
}

function checkHardState(hs: HardState): void {
  for (const key of ['term', 'vote', 'commit'] as const) {
    assert(Number.isSafeInteger(hs[key]) && hs[key] >= 0, () => `hard state ${key} is ${hs[key]}`);
  }
}

export class DurableLog implements RaftStorage {
  private readonly window: EntryWindow;
  private hard: HardState;
  private snapMeta: SnapshotMeta;
  private provider: (() => Uint8Array) | undefined;
  /** Data of an installed snapshot whose files are still being written. */
  private pendingData: { readonly index: number; readonly data: Uint8Array } | undefined;
  private saves = 0;

  private constructor(
    private readonly dir: string,
    private readonly limits: StorageLimits,
    private readonly writer: SegmentWriter,
    private readonly counter: SyncCounter,
    hard: HardState,
    snapMeta: SnapshotMeta,
    window: EntryWindow,
  ) {
    this.hard = hard;
    this.snapMeta = snapMeta;
    this.window = window;
  }

  /** Open the log in `dir` (created if missing); throws MK_DATA_CORRUPTION without touching a damaged one. */
  static async open(dir: string, options: DurableLogOptions = {}): Promise<DurableLog> {
    const limits = validateStorageLimits({
      ...options.limits,
      ...(options.segmentBytes === undefined ? {} : { segmentBytes: options.segmentBytes }),
    });
    const logger = options.logger ?? createLogger('raft-log');
    const counter: SyncCounter = { fsyncs: 0 };
    const recovery = await startLogDir(dir, {
      bootstrap: options.bootstrap ?? { members: [] },
      maxRecordBytes: READ_MAX_RECORD_BYTES,
      logger,
      counter,
    });
    const { meta } = recovery;
    const window = new EntryWindow(meta.compacted.index, meta.compacted.term, recovery.entries);
    const writer = await SegmentWriter.open(dir, limits, logger, recovery, counter);
    logger.info('opened the raft log', {
      dir,
      firstIndex: window.firstIndex(),
      lastIndex: window.lastIndex(),
      snapshotIndex: meta.snapshot.index,
      segments: recovery.segments.length,
      hardState: recovery.hardState,
    });
    return new DurableLog(dir, limits, writer, counter, recovery.hardState, meta.snapshot, window);
  }

  // ---------------------------------------------------------------- RaftStorage

  initialState(): { hardState: HardState; snapshotConf: ConfState } {
    return { hardState: this.hard, snapshotConf: this.snapMeta.conf };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.window.entries(lo, hi, maxBytes);
  }

  term(i: number): number | undefined {
    return this.window.term(i);
  }

  firstIndex(): number {
    return this.window.firstIndex();
  }

  lastIndex(): number {
    return this.window.lastIndex();
  }

  snapshot(): Snapshot {
    const data =
      this.provider?.() ??
      (this.pendingData?.index === this.snapMeta.index ? this.pendingData.data : undefined) ??
      this.storedSnapshotData() ??
      new Uint8Array(0);
    return { meta: this.snapMeta, data };
  }

  /** The state machine's consistent copy; it may be ahead of the snapshot index (it skips what it has). */
  setSnapshotProvider(provider: () => Uint8Array): void {
    this.provider = provider;
  }

  /** The data of an installed (received) snapshot, for the state machine to restore from at start-up. */
  storedSnapshotData(): Uint8Array | undefined {
    if (this.pendingData) return this.pendingData.data;
    const ref = this.writer.diskMeta().data;
    if (!ref) return undefined;
    const path = join(this.dir, ref.file);
    const data = readFileSync(path);
    if (data.length !== ref.bytes || crc32(data) !== ref.crc) {
      throw new MicroK8sError(
        'MK_DATA_CORRUPTION',
        `${path}: the snapshot data does not match its checksum`,
        {
          file: path,
        },
      );
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }

  // ---------------------------------------------------------------- writes

  /**
   * Persist entries (replacing any conflicting suffix) and the hard state; resolves once durable.
   * Saves that arrive while an fdatasync runs share the next one.
   */
  save(batch: { hardState?: HardState; entries: readonly Entry[] }): Promise<void> {
    try {
      this.writer.checkOpen();
      const { entries, hardState } = batch;
      this.window.checkAppend(entries);
      const parts: Buffer[] = [];
      for (const e of entries) {
        const bytes = entryRecordBytes(e);
        if (bytes > this.limits.maxRecordBytes) {
          throw new MicroK8sError(
            'MK_LIMIT_EXCEEDED',
            `entry ${e.index} takes ${bytes} bytes on disk, more than storage.maxRecordBytes (${this.limits.maxRecordBytes})`,
            { limit: 'storage.maxRecordBytes', bytes },
          );
        }
        parts.push(encodeEntry(e));
      }
      // The hard state goes after the entries: if it survives a crash, so did they.
      if (hardState) {
        checkHardState(hardState);
        parts.push(encodeHardState(hardState));
      }
      this.window.append(entries);
      if (hardState) {
        assert(
          hardState.commit <= this.window.lastIndex(),
          () => `hard state commit ${hardState.commit} beyond the last index ${this.window.lastIndex()}`,
        );
        this.hard = hardState;
      }
      this.saves++;
      const maxIndex = entries.length > 0 ? entries[entries.length - 1]!.index : 0;
      return this.writer.save(parts, maxIndex, hardState);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A snapshot received from the leader: its data and meta are stored durably and the log
   * restarts after it. An older snapshot than the current one is ignored.
   */
  installSnapshot(snapshot: Snapshot): Promise<void> {
    try {
      this.writer.checkOpen();
      const { meta } = snapshot;
      if (meta.index <= this.snapMeta.index) return Promise.resolve();
      this.window.reset(meta.index, meta.term);
      this.snapMeta = meta;
      const pending = { index: meta.index, data: snapshot.data };
      this.pendingData = pending;
      return this.writer.installSnapshot(snapshot).finally(() => {
        if (this.pendingData === pending) this.pendingData = undefined;
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The local state machine durably holds everything up to meta.index: record it as the
   * snapshot (a received data file, now superseded, is removed). The log is not compacted.
   */
  markSnapshot(meta: SnapshotMeta): Promise<void> {
    try {
      this.writer.checkOpen();
      if (meta.index <= this.snapMeta.index) return Promise.resolve();
      assert(
        meta.index <= this.window.lastIndex() && this.window.term(meta.index) === meta.term,
        () =>
          `snapshot ${meta.index}/${meta.term} does not match the log (term ${this.window.term(meta.index)})`,
      );
      this.snapMeta = meta;
      this.pendingData = undefined;
      return this.writer.markSnapshot(meta);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Drop the entries up to `index` (at most the snapshot index) and reclaim whole segment files. */
  compact(index: number): Promise<void> {
    try {
      this.writer.checkOpen();
      assert(
        index <= this.snapMeta.index,
        () => `compact ${index} beyond the snapshot ${this.snapMeta.index}`,
      );
      if (index < this.window.firstIndex()) return Promise.resolve();
      const term = this.window.term(index);
      assert(term !== undefined, () => `compact ${index} beyond the last index ${this.window.lastIndex()}`);
      this.window.compact(index);
      return this.writer.compact(index, term);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  stats(): DurableLogStats {
    return {
      segments: this.writer.segmentCount(),
      bytes: this.writer.segmentBytes(),
      fsyncs: this.counter.fsyncs,
      entries: this.window.count(),
      saves: this.saves,
      flushes: this.writer.flushes,
    };
  }

  /** Wait for the queued writes, then close the files. Later calls fail with MK_STOPPED. */
  close(): Promise<void> {
    return this.writer.close();
  }
}
