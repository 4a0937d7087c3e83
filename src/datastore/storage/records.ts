/**
 * The record format of the segment files. Every record is framed as
 *
 *   u32 LE payload length | u32 LE crc32(length bytes + payload) | payload
 *
 * and the payload starts with a one-byte record type. The checksum covers the length too, so a
 * flipped length bit cannot make the reader skip to a wrong place and carry on silently.
 * Integers are little-endian u64 stored as two u32 halves, limited to safe JS integers.
 *
 * Every write that is followed by an fdatasync (a flush) is a batch of records closed by a commit
 * record, which carries the batch's start offset and a crc32 of all of its bytes. A batch counts
 * only once its commit record verifies: a power cut during the fdatasync may persist the pages of
 * the final batch in any order, and the commit record is what tells that apart from damage.
 */
import { crc32 } from 'node:zlib';
import { assert } from '../../lib/assert.js';
import { type Entry, EntryType, type HardState } from '../raft/types.js';

export const RECORD_FRAME_BYTES = 8;

export const RecordType = { Entry: 1, HardState: 2, SegmentHeader: 3, Commit: 4 } as const;

/** Bumped when the record layout changes; written in every segment header. */
export const SEGMENT_FORMAT_VERSION = 1;

// Payload sizes: type byte + fields.
const ENTRY_FIXED_BYTES = 1 + 1 + 8 + 8;
const HARD_STATE_BYTES = 1 + 8 + 8 + 8;
const HEADER_BYTES = 1 + 1 + 8 + HARD_STATE_BYTES - 1;
const COMMIT_BYTES = 1 + 8 + 4;

/** Bytes of a commit record (closing one batch). */
export const COMMIT_RECORD_BYTES = RECORD_FRAME_BYTES + COMMIT_BYTES;
/** Bytes of a fresh segment (its header, committed): a segment this long holds no records yet. */
export const SEGMENT_START_BYTES = RECORD_FRAME_BYTES + HEADER_BYTES + COMMIT_RECORD_BYTES;

export type LogRecord =
  | { readonly kind: 'entry'; readonly entry: Entry }
  | { readonly kind: 'hard-state'; readonly hardState: HardState }
  /** First record of every segment: its sequence number and the hard state in force when it began. */
  | { readonly kind: 'header'; readonly seq: number; readonly hardState: HardState }
  /** Closes the batch that started at `start`: crc32 of the bytes from `start` to this record. */
  | { readonly kind: 'commit'; readonly start: number; readonly crc: number };

const TWO_POW_32 = 2 ** 32;
/** Largest high half of a safe integer (2^53 - 1). */
const MAX_SAFE_HIGH = 2 ** 21 - 1;

function writeU64(buf: Buffer, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, () => `u64 field out of range: ${value}`);
  buf.writeUInt32LE(value % TWO_POW_32, offset);
  buf.writeUInt32LE(Math.floor(value / TWO_POW_32), offset + 4);
}

/** undefined when the value is not a safe integer (which only garbage can produce). */
function readU64(buf: Buffer, offset: number): number | undefined {
  const high = buf.readUInt32LE(offset + 4);
  if (high > MAX_SAFE_HIGH) return undefined;
  return high * TWO_POW_32 + buf.readUInt32LE(offset);
}

function frame(payloadBytes: number): Buffer {
  return Buffer.allocUnsafe(RECORD_FRAME_BYTES + payloadBytes);
}

function seal(buf: Buffer): Buffer {
  buf.writeUInt32LE(buf.length - RECORD_FRAME_BYTES, 0);
  buf.writeUInt32LE(checksum(buf, 0, buf.length - RECORD_FRAME_BYTES), 4);
  return buf;
}

function checksum(buf: Buffer, start: number, payloadBytes: number): number {
  const lengthCrc = crc32(buf.subarray(start, start + 4));
  const payloadStart = start + RECORD_FRAME_BYTES;
  return crc32(buf.subarray(payloadStart, payloadStart + payloadBytes), lengthCrc);
}

/** Bytes an entry takes on disk. */
export function entryRecordBytes(entry: Entry): number {
  return RECORD_FRAME_BYTES + ENTRY_FIXED_BYTES + entry.data.byteLength;
}

export function encodeEntry(entry: Entry): Buffer {
  const buf = frame(ENTRY_FIXED_BYTES + entry.data.byteLength);
  let at = RECORD_FRAME_BYTES;
  buf[at++] = RecordType.Entry;
  buf[at++] = entry.type;
  writeU64(buf, at, entry.term);
  writeU64(buf, at + 8, entry.index);
  buf.set(entry.data, at + 16);
  return seal(buf);
}

function writeHardState(buf: Buffer, at: number, hs: HardState): void {
  writeU64(buf, at, hs.term);
  writeU64(buf, at + 8, hs.vote);
  writeU64(buf, at + 16, hs.commit);
}

export function encodeHardState(hs: HardState): Buffer {
  const buf = frame(HARD_STATE_BYTES);
  buf[RECORD_FRAME_BYTES] = RecordType.HardState;
  writeHardState(buf, RECORD_FRAME_BYTES + 1, hs);
  return seal(buf);
}

export function encodeHeader(seq: number, hs: HardState): Buffer {
  const buf = frame(HEADER_BYTES);
  let at = RECORD_FRAME_BYTES;
  buf[at++] = RecordType.SegmentHeader;
  buf[at++] = SEGMENT_FORMAT_VERSION;
  writeU64(buf, at, seq);
  writeHardState(buf, at + 8, hs);
  return seal(buf);
}

/**
 * The batch checksum: crc32 over the 8-byte frames (length + record crc) of its records, in order.
 * The frames pin every byte of every record transitively, at a tiny fraction of the cost of a
 * second pass over the data.
 */
function frameCrc(buf: Buffer, at: number, crc: number): number {
  return crc32(buf.subarray(at, at + RECORD_FRAME_BYTES), crc);
}

/** One batch, ready to write at `start`: the records followed by their commit record. */
export function encodeBatch(start: number, records: readonly Buffer[]): Buffer {
  let bodyBytes = 0;
  for (const r of records) bodyBytes += r.length;
  // One allocation and one copy: batches can be megabytes.
  const buf = Buffer.allocUnsafe(bodyBytes + COMMIT_RECORD_BYTES);
  let at = 0;
  for (const r of records) at += r.copy(buf, at);
  let crc = 0;
  for (at = 0; at < bodyBytes; at += RECORD_FRAME_BYTES + buf.readUInt32LE(at)) crc = frameCrc(buf, at, crc);
  assert(at === bodyBytes, 'a batch is made of whole records');
  const commit = buf.subarray(bodyBytes);
  commit[RECORD_FRAME_BYTES] = RecordType.Commit;
  writeU64(commit, RECORD_FRAME_BYTES + 1, start);
  commit.writeUInt32LE(crc, RECORD_FRAME_BYTES + 9);
  seal(commit);
  return buf;
}

/** Accumulates the batch checksum while a reader walks the records of a batch. */
export function addToBatchCrc(buf: Buffer, recordOffset: number, crc: number): number {
  return frameCrc(buf, recordOffset, crc);
}

/**
 * Whether the commit record found at `at` closes a batch in `buf`: valid records tiling
 * [start, at) exactly, whose frames match its checksum.
 */
export function batchVerifies(
  buf: Buffer,
  commit: { start: number; crc: number },
  at: number,
  maxRecordBytes: number,
): boolean {
  if (commit.start >= at) return false;
  let crc = 0;
  let offset = commit.start;
  while (offset < at) {
    const result = decodeRecord(buf, offset, maxRecordBytes);
    if (!result.ok || result.record.kind === 'commit') return false;
    crc = frameCrc(buf, offset, crc);
    offset = result.next;
  }
  return offset === at && crc === commit.crc;
}

function readHardState(buf: Buffer, at: number): HardState | undefined {
  const term = readU64(buf, at);
  const vote = readU64(buf, at + 8);
  const commit = readU64(buf, at + 16);
  if (term === undefined || vote === undefined || commit === undefined) return undefined;
  return { term, vote, commit };
}

export type DecodeResult =
  | { readonly ok: true; readonly record: LogRecord; readonly next: number }
  | { readonly ok: false; readonly reason: string };

/**
 * Decode the record at `offset`. Never throws: anything that is not a complete record with a
 * matching checksum and a well-formed payload comes back as `ok: false` with the reason, and the
 * caller decides whether that is a torn tail or corruption.
 */
export function decodeRecord(buf: Buffer, offset: number, maxRecordBytes: number): DecodeResult {
  if (offset + RECORD_FRAME_BYTES > buf.length) return { ok: false, reason: 'incomplete record frame' };
  const length = buf.readUInt32LE(offset);
  if (length === 0 || length + RECORD_FRAME_BYTES > maxRecordBytes) {
    return { ok: false, reason: `implausible record length ${length}` };
  }
  const end = offset + RECORD_FRAME_BYTES + length;
  if (end > buf.length)
    return { ok: false, reason: `record of ${length} bytes runs past the end of the file` };
  // Cheap shape checks first: they reject most garbage before the checksum is computed.
  const at = offset + RECORD_FRAME_BYTES;
  const type = buf[at];
  const shapeOk =
    (type === RecordType.Entry && length >= ENTRY_FIXED_BYTES) ||
    (type === RecordType.HardState && length === HARD_STATE_BYTES) ||
    (type === RecordType.SegmentHeader && length === HEADER_BYTES) ||
    (type === RecordType.Commit && length === COMMIT_BYTES);
  if (!shapeOk) return { ok: false, reason: `unknown record type ${type} of ${length} bytes` };
  if (checksum(buf, offset, length) !== buf.readUInt32LE(offset + 4)) {
    return { ok: false, reason: 'checksum mismatch' };
  }
  const record = decodePayload(buf, at, end);
  return record ? { ok: true, record, next: end } : { ok: false, reason: 'malformed record payload' };
}

function decodePayload(buf: Buffer, at: number, end: number): LogRecord | undefined {
  switch (buf[at]) {
    case RecordType.Entry: {
      const type = buf[at + 1];
      const term = readU64(buf, at + 2);
      const index = readU64(buf, at + 10);
      if (type !== EntryType.Normal && type !== EntryType.ConfChange) return undefined;
      if (term === undefined || index === undefined || index === 0) return undefined;
      // A copy, so the segment buffer read at start-up is not pinned by the entries kept in memory.
      const data = new Uint8Array(end - at - ENTRY_FIXED_BYTES);
      data.set(buf.subarray(at + ENTRY_FIXED_BYTES, end));
      return { kind: 'entry', entry: { term, index, type, data } };
    }
    case RecordType.HardState: {
      const hardState = readHardState(buf, at + 1);
      return hardState && { kind: 'hard-state', hardState };
    }
    case RecordType.SegmentHeader: {
      if (buf[at + 1] !== SEGMENT_FORMAT_VERSION) return undefined;
      const seq = readU64(buf, at + 2);
      const hardState = readHardState(buf, at + 10);
      return seq !== undefined && hardState ? { kind: 'header', seq, hardState } : undefined;
    }
    case RecordType.Commit: {
      const start = readU64(buf, at + 1);
      return start === undefined ? undefined : { kind: 'commit', start, crc: buf.readUInt32LE(at + 9) };
    }
    default:
      return undefined;
  }
}
