/** The named, validated limits of the durable Raft log. */
import { checkLimit, KiB, MiB } from '../../lib/limits.js';

export interface StorageLimits {
  /** Bytes of one segment file before the log rolls over to a new one (a batch never spans two). */
  readonly segmentBytes: number;
  /** Largest single record (one entry with its framing); larger saves fail with MK_LIMIT_EXCEEDED. */
  readonly maxRecordBytes: number;
  /**
   * Bytes written by one group commit at most. It bounds the data at risk in one fsync and hence
   * how long a torn tail can be; a single save larger than this is still written, alone.
   */
  readonly maxFlushBytes: number;
  /**
   * Batches up to this size are copied into the page cache with a synchronous write before the
   * (asynchronous) fdatasync: it saves a thread-pool round trip per commit (measured 10-15% on
   * single-entry latency). Larger batches are written asynchronously so the event loop never
   * stalls on a big copy.
   */
  readonly syncWriteBytes: number;
  /**
   * Zero-filled space kept written ahead of the end of the active segment. An fdatasync that
   * does not grow the file needs no file-system journal commit, which measured about 1.5x faster
   * for single appends; the zeros are read back as a clean end of the segment. 0 disables it.
   */
  readonly preallocateBytes: number;
}

export const DEFAULT_STORAGE_LIMITS: StorageLimits = {
  segmentBytes: 64 * MiB,
  maxRecordBytes: 64 * MiB,
  maxFlushBytes: 16 * MiB,
  syncWriteBytes: 1 * MiB,
  preallocateBytes: 1 * MiB,
};

const SPECS: Record<keyof StorageLimits, { min: number; max: number; unit: string }> = {
  // Small minimums so tests can exercise roll-over and compaction with a handful of entries.
  segmentBytes: { min: 1 * KiB, max: 1024 * MiB, unit: 'bytes' },
  maxRecordBytes: { min: 1 * KiB, max: 1024 * MiB, unit: 'bytes' },
  maxFlushBytes: { min: 1 * KiB, max: 1024 * MiB, unit: 'bytes' },
  syncWriteBytes: { min: 0, max: 16 * MiB, unit: 'bytes' },
  preallocateBytes: { min: 0, max: 64 * MiB, unit: 'bytes' },
};

/**
 * The largest record a reader accepts: the highest maxRecordBytes anyone can configure, so that
 * lowering the limit never turns records written earlier into "corruption".
 */
export const READ_MAX_RECORD_BYTES = SPECS.maxRecordBytes.max;

export function validateStorageLimits(overrides: Partial<StorageLimits> = {}): StorageLimits {
  const limits = { ...DEFAULT_STORAGE_LIMITS, ...overrides };
  for (const key of Object.keys(SPECS) as (keyof StorageLimits)[]) {
    checkLimit({ name: `storage.${key}`, ...SPECS[key] }, limits[key]);
  }
  return limits;
}
