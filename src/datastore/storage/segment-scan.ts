/**
 * Reading one segment file back: its committed records, and where the valid part ends.
 *
 * Every byte of a segment is written as part of a batch closed by a commit record (see
 * records.ts), and every batch is fdatasync'd before the next one is written, and before any
 * later segment is created. So a crash can only damage the final batch of the last segment, and
 * it can damage it in any way (pages persisted in any order). Hence:
 *  - zeros after the last batch are preallocated space: the clean end of the segment;
 *  - anything else after the last verified batch is a torn tail if it is in the last segment and
 *    holds no verified batch of its own; it is then cut off;
 *  - everything else (damage followed by a verified batch, damage in an earlier segment) is
 *    corruption and stops the open.
 */
import { MicroK8sError } from '../../lib/errors.js';
import { addToBatchCrc, batchVerifies, decodeRecord, type LogRecord, RECORD_FRAME_BYTES } from './records.js';

export interface ScannedRecord {
  readonly record: LogRecord;
  readonly offset: number;
}

export interface SegmentScan {
  /** The records of the verified batches (commit records left out). */
  readonly records: ScannedRecord[];
  /** Bytes from the start to the end of the last verified batch. */
  readonly validBytes: number;
  /** Bytes in the file (valid batches, then preallocated zeros or a torn tail). */
  readonly fileBytes: number;
  /** Set when the file goes on past `validBytes` with a torn write (last segment only). */
  readonly torn?: { readonly reason: string };
}

export function corruption(file: string, offset: number, why: string): MicroK8sError {
  return new MicroK8sError('MK_DATA_CORRUPTION', `${file}: at byte offset ${offset}: ${why}`, {
    file,
    offset,
  });
}

function isZero(buf: Buffer, from: number): boolean {
  for (let at = from; at < buf.length; at++) if (buf[at] !== 0) return false;
  return true;
}

/** The offset of the first commit record after `from` that verifies a batch starting at or after `from`. */
export function findVerifiedBatchAfter(
  buf: Buffer,
  from: number,
  maxRecordBytes: number,
): number | undefined {
  for (let at = from + 1; at + RECORD_FRAME_BYTES <= buf.length; at++) {
    const result = decodeRecord(buf, at, maxRecordBytes);
    if (result.ok && result.record.kind === 'commit' && result.record.start >= from) {
      if (batchVerifies(buf, result.record, at, maxRecordBytes)) return at;
    }
  }
  return undefined;
}

export function scanSegment(buf: Buffer, file: string, isLast: boolean, maxRecordBytes: number): SegmentScan {
  const records: ScannedRecord[] = [];
  let pending: ScannedRecord[] = [];
  let committed = 0;
  let batchCrc = 0;
  let offset = 0;
  let problem: string | undefined;
  while (offset < buf.length) {
    const result = decodeRecord(buf, offset, maxRecordBytes);
    if (!result.ok) {
      problem = result.reason;
      break;
    }
    const { record } = result;
    if (record.kind !== 'commit') {
      pending.push({ record, offset });
      batchCrc = addToBatchCrc(buf, offset, batchCrc);
      offset = result.next;
      continue;
    }
    if (record.start !== committed || pending.length === 0 || record.crc !== batchCrc) {
      problem = 'a commit record that does not match its batch';
      break;
    }
    for (const r of pending) records.push(r);
    pending = [];
    batchCrc = 0;
    committed = result.next;
    offset = result.next;
  }
  if (offset >= buf.length && pending.length === 0)
    return { records, validBytes: committed, fileBytes: buf.length };
  // Past the last verified batch: the first problem is at `offset`, or records never committed.
  if (pending.length === 0 && isZero(buf, offset))
    return { records, validBytes: committed, fileBytes: buf.length };
  const reason = problem ?? 'records without a commit record';
  const at = pending.length > 0 ? pending[0]!.offset : offset;
  const later = findVerifiedBatchAfter(buf, committed, maxRecordBytes);
  if (later !== undefined) {
    throw corruption(file, at, `${reason}, followed by a complete batch at byte offset ${later}`);
  }
  if (!isLast) throw corruption(file, at, `${reason}, in a segment that is not the last one`);
  return { records, validBytes: committed, fileBytes: committed, torn: { reason } };
}
