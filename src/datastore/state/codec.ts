/**
 * The binary encoding of a Command, the payload of a Raft entry. Hand-written because it sits on
 * the hot path of every write on every replica and keys and values are raw bytes (JSON would
 * need base64 and a parse). Layout, all integers LEB128 varints:
 *
 *   command  := version(=1) tag body   (lease commands: id [ttl]; compact: revision)
 *   put      := flags key value [lease]             flags: prevKv ignoreValue ignoreLease hasLease
 *   delete   := flags key [rangeEnd]                flags: prevKv hasRangeEnd
 *   range    := flags key [rangeEnd] [limit] [revision] [minMod] [maxMod] [minCreate] [maxCreate]
 *               flags: presence bits, keysOnly, countOnly, sortOrder (2 bits), sortTarget (3 bits)
 *   txn      := n compare* n op* n op*              (success, then failure)
 *   compare  := head key [rangeEnd] operand         head: target | result << 3 | hasRangeEnd << 5
 *   op       := opTag (range | put | delete | txn)
 *   bytes    := length raw
 *
 * Unsigned fields (lease ids, ttl, compact revision) are plain varints up to 2^53 - 1; signed
 * fields (limit, revisions in a range, compare operands) are zigzag varints up to MAX_SIGNED_FIELD.
 * Defaults (false, 0, empty rangeEnd, sort none/key) are not written, so decoding yields the
 * canonical form with those fields absent. Any malformed input, including trailing bytes, is
 * MK_INVALID_ARGUMENT; the decoder never returns a partial command.
 */
import { MicroK8sError } from '../../lib/errors.js';
import { ENCODE_INITIAL_BYTES, MAX_SIGNED_FIELD, MAX_TXN_DEPTH } from './limits.js';
import {
  type Command,
  type Compare,
  type CompareResult,
  type CompareTarget,
  type DeleteRangeRequest,
  MEMBER_REMOVALS,
  type PutRequest,
  type RangeRequest,
  type RequestOp,
  type SortOrder,
  type SortTarget,
  type TxnRequest,
} from './types.js';

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export const COMMAND_FORMAT_VERSION = 1;

const CMD_PUT = 1;
const CMD_DELETE_RANGE = 2;
const CMD_TXN = 3;
const CMD_COMPACT = 4;
const CMD_LEASE_GRANT = 5;
const CMD_LEASE_REVOKE = 6;
const CMD_LEASE_EXPIRE = 7;
const CMD_LEASE_KEEP_ALIVE = 8;
const CMD_MEMBER_SET = 9;
const CMD_MEMBER_REMOVE = 10;
const CMD_MEMBER_ADD = 11;

const OP_RANGE = 1;
const OP_PUT = 2;
const OP_DELETE_RANGE = 3;
const OP_TXN = 4;

const PUT_PREV_KV = 1;
const PUT_IGNORE_VALUE = 2;
const PUT_IGNORE_LEASE = 4;
const PUT_HAS_LEASE = 8;
const PUT_FLAGS = 15;

const DEL_PREV_KV = 1;
const DEL_HAS_RANGE_END = 2;
const DEL_FLAGS = 3;

const RANGE_HAS_RANGE_END = 1 << 0;
const RANGE_HAS_LIMIT = 1 << 1;
const RANGE_HAS_REVISION = 1 << 2;
const RANGE_KEYS_ONLY = 1 << 3;
const RANGE_COUNT_ONLY = 1 << 4;
const RANGE_HAS_MIN_MOD = 1 << 5;
const RANGE_HAS_MAX_MOD = 1 << 6;
const RANGE_HAS_MIN_CREATE = 1 << 7;
const RANGE_HAS_MAX_CREATE = 1 << 8;
const RANGE_SORT_ORDER_SHIFT = 9;
const RANGE_SORT_TARGET_SHIFT = 11;
const RANGE_FLAGS_LIMIT = 1 << 14;

const CMP_HAS_RANGE_END = 1 << 5;

const SORT_ORDERS: readonly SortOrder[] = ['none', 'ascend', 'descend'];
const SORT_TARGETS: readonly SortTarget[] = ['key', 'version', 'create', 'mod', 'value'];
const COMPARE_TARGETS: readonly CompareTarget[] = ['version', 'create', 'mod', 'value', 'lease'];
const COMPARE_RESULTS: readonly CompareResult[] = ['equal', 'greater', 'less', 'not_equal'];

/** A varint has at most 8 bytes: 8 * 7 = 56 bits covers 2^53 - 1. */
const MAX_VARINT_BYTES = 8;

function invalid(message: string): MicroK8sError {
  return new MicroK8sError('MK_INVALID_ARGUMENT', message);
}

// ---------------------------------------------------------------------------------------------
// Encoding

class Writer {
  private buf = new Uint8Array(ENCODE_INITIAL_BYTES);
  private pos = 0;

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  byte(value: number): void {
    this.ensure(1);
    this.buf[this.pos++] = value;
  }

  uint(value: number, field: string): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw invalid(`${field} must be a non-negative integer up to 2^53 - 1, got ${value}`);
    }
    this.ensure(MAX_VARINT_BYTES);
    // Division instead of bit operations: JS bit operations truncate to 32 bits.
    while (value >= 0x80) {
      this.buf[this.pos++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buf[this.pos++] = value;
  }

  int(value: number, field: string): void {
    if (!Number.isSafeInteger(value) || Math.abs(value) > MAX_SIGNED_FIELD) {
      throw invalid(`${field} must be an integer of magnitude up to ${MAX_SIGNED_FIELD}, got ${value}`);
    }
    this.uint(value >= 0 ? value * 2 : -value * 2 - 1, field);
  }

  bytes(value: Uint8Array, field: string): void {
    if (!(value instanceof Uint8Array)) throw invalid(`${field} must be bytes`);
    this.uint(value.byteLength, field);
    this.ensure(value.byteLength);
    this.buf.set(value, this.pos);
    this.pos += value.byteLength;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

function present(value: number | undefined): value is number {
  return value !== undefined && value !== 0;
}

function hasBytes(value: Uint8Array | undefined): value is Uint8Array {
  return value !== undefined && value.byteLength > 0;
}

function indexOf<T>(items: readonly T[], value: T | undefined, fallback: T, field: string): number {
  const index = items.indexOf(value ?? fallback);
  if (index < 0) throw invalid(`${field} must be one of ${items.join(', ')}, got ${String(value)}`);
  return index;
}

function writePut(w: Writer, r: PutRequest): void {
  let flags = 0;
  if (r.prevKv) flags |= PUT_PREV_KV;
  if (r.ignoreValue) flags |= PUT_IGNORE_VALUE;
  if (r.ignoreLease) flags |= PUT_IGNORE_LEASE;
  if (present(r.lease)) flags |= PUT_HAS_LEASE;
  w.byte(flags);
  w.bytes(r.key, 'put.key');
  w.bytes(r.value, 'put.value');
  if (present(r.lease)) w.uint(r.lease, 'put.lease');
}

function writeDeleteRange(w: Writer, r: DeleteRangeRequest): void {
  let flags = 0;
  if (r.prevKv) flags |= DEL_PREV_KV;
  if (hasBytes(r.rangeEnd)) flags |= DEL_HAS_RANGE_END;
  w.byte(flags);
  w.bytes(r.key, 'deleteRange.key');
  if (hasBytes(r.rangeEnd)) w.bytes(r.rangeEnd, 'deleteRange.rangeEnd');
}

function writeRange(w: Writer, r: RangeRequest): void {
  let flags = 0;
  if (hasBytes(r.rangeEnd)) flags |= RANGE_HAS_RANGE_END;
  if (present(r.limit)) flags |= RANGE_HAS_LIMIT;
  if (present(r.revision)) flags |= RANGE_HAS_REVISION;
  if (r.keysOnly) flags |= RANGE_KEYS_ONLY;
  if (r.countOnly) flags |= RANGE_COUNT_ONLY;
  if (present(r.minModRevision)) flags |= RANGE_HAS_MIN_MOD;
  if (present(r.maxModRevision)) flags |= RANGE_HAS_MAX_MOD;
  if (present(r.minCreateRevision)) flags |= RANGE_HAS_MIN_CREATE;
  if (present(r.maxCreateRevision)) flags |= RANGE_HAS_MAX_CREATE;
  flags |= indexOf(SORT_ORDERS, r.sortOrder, 'none', 'range.sortOrder') << RANGE_SORT_ORDER_SHIFT;
  flags |= indexOf(SORT_TARGETS, r.sortTarget, 'key', 'range.sortTarget') << RANGE_SORT_TARGET_SHIFT;
  w.uint(flags, 'range.flags');
  w.bytes(r.key, 'range.key');
  if (hasBytes(r.rangeEnd)) w.bytes(r.rangeEnd, 'range.rangeEnd');
  if (present(r.limit)) w.int(r.limit, 'range.limit');
  if (present(r.revision)) w.int(r.revision, 'range.revision');
  if (present(r.minModRevision)) w.int(r.minModRevision, 'range.minModRevision');
  if (present(r.maxModRevision)) w.int(r.maxModRevision, 'range.maxModRevision');
  if (present(r.minCreateRevision)) w.int(r.minCreateRevision, 'range.minCreateRevision');
  if (present(r.maxCreateRevision)) w.int(r.maxCreateRevision, 'range.maxCreateRevision');
}

function writeCompare(w: Writer, c: Compare): void {
  const target = indexOf(COMPARE_TARGETS, c.target, c.target, 'compare.target');
  const result = indexOf(COMPARE_RESULTS, c.result, c.result, 'compare.result');
  w.byte(target | (result << 3) | (hasBytes(c.rangeEnd) ? CMP_HAS_RANGE_END : 0));
  w.bytes(c.key, 'compare.key');
  if (hasBytes(c.rangeEnd)) w.bytes(c.rangeEnd, 'compare.rangeEnd');
  if (c.target === 'value') {
    if (!(c.operand instanceof Uint8Array)) throw invalid('a value compare needs a bytes operand');
    w.bytes(c.operand, 'compare.operand');
  } else {
    if (typeof c.operand !== 'number') throw invalid(`a ${c.target} compare needs a number operand`);
    w.int(c.operand, 'compare.operand');
  }
}

function writeOps(w: Writer, ops: readonly RequestOp[], depth: number): void {
  w.uint(ops.length, 'txn ops');
  for (const op of ops) {
    if ('range' in op) {
      w.byte(OP_RANGE);
      writeRange(w, op.range);
    } else if ('put' in op) {
      w.byte(OP_PUT);
      writePut(w, op.put);
    } else if ('deleteRange' in op) {
      w.byte(OP_DELETE_RANGE);
      writeDeleteRange(w, op.deleteRange);
    } else if ('txn' in op) {
      w.byte(OP_TXN);
      writeTxn(w, op.txn, depth + 1);
    } else {
      throw invalid('a txn op must be one of range, put, deleteRange, txn');
    }
  }
}

function writeTxn(w: Writer, t: TxnRequest, depth: number): void {
  if (depth > MAX_TXN_DEPTH) throw invalid(`txn nesting deeper than ${MAX_TXN_DEPTH}`);
  w.uint(t.compare.length, 'txn compares');
  for (const c of t.compare) writeCompare(w, c);
  writeOps(w, t.success, depth);
  writeOps(w, t.failure, depth);
}

/** Encode a command for the Raft log. Throws MK_INVALID_ARGUMENT for a value it cannot represent. */
export function encodeCommand(cmd: Command): Uint8Array {
  const w = new Writer();
  w.byte(COMMAND_FORMAT_VERSION);
  switch (cmd.type) {
    case 'put':
      w.byte(CMD_PUT);
      writePut(w, cmd.request);
      break;
    case 'deleteRange':
      w.byte(CMD_DELETE_RANGE);
      writeDeleteRange(w, cmd.request);
      break;
    case 'txn':
      w.byte(CMD_TXN);
      writeTxn(w, cmd.request, 1);
      break;
    case 'compact':
      w.byte(CMD_COMPACT);
      w.uint(cmd.revision, 'compact.revision');
      break;
    case 'leaseGrant':
      w.byte(CMD_LEASE_GRANT);
      w.uint(cmd.id, 'leaseGrant.id');
      w.uint(cmd.ttl, 'leaseGrant.ttl');
      break;
    case 'leaseRevoke':
      w.byte(CMD_LEASE_REVOKE);
      w.uint(cmd.id, 'leaseRevoke.id');
      break;
    case 'leaseExpire':
      w.byte(CMD_LEASE_EXPIRE);
      w.uint(cmd.id, 'leaseExpire.id');
      break;
    case 'leaseKeepAlive':
      w.byte(CMD_LEASE_KEEP_ALIVE);
      w.uint(cmd.id, 'leaseKeepAlive.id');
      break;
    case 'memberSet':
    case 'memberAdd':
      w.byte(cmd.type === 'memberSet' ? CMD_MEMBER_SET : CMD_MEMBER_ADD);
      w.uint(cmd.id, 'memberSet.id');
      w.bytes(utf8.encode(cmd.failureDomain), 'memberSet.failureDomain');
      w.uint(cmd.weight, 'memberSet.weight');
      w.uint(cmd.draining ? 1 : 0, 'memberSet.draining');
      w.bytes(utf8.encode(cmd.peerAddress), 'memberSet.peerAddress');
      w.bytes(utf8.encode(cmd.clientUrl), 'memberSet.clientUrl');
      w.uint(MEMBER_REMOVALS.indexOf(cmd.removal), 'memberSet.removal');
      break;
    case 'memberRemove':
      w.byte(CMD_MEMBER_REMOVE);
      w.uint(cmd.id, 'memberRemove.id');
      break;
    default:
      throw invalid(`unknown command type ${String((cmd as { type?: unknown }).type)}`);
  }
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Decoding

function text(r: Reader, what: string): string {
  const raw = r.bytes();
  try {
    return strictUtf8.decode(raw);
  } catch {
    return r.fail(`${what} is not UTF-8`);
  }
}

class Reader {
  private pos = 0;
  constructor(private readonly data: Uint8Array) {}

  fail(what: string): never {
    throw invalid(`malformed command: ${what} at byte ${this.pos}`);
  }

  remaining(): number {
    return this.data.byteLength - this.pos;
  }

  byte(): number {
    if (this.pos >= this.data.byteLength) this.fail('truncated');
    return this.data[this.pos++]!;
  }

  uint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const b = this.byte();
      value += (b & 0x7f) * scale;
      // Partial sums only grow, so a value past 2^53 - 1 is caught even if rounded.
      if (value > Number.MAX_SAFE_INTEGER) this.fail('integer too large');
      if ((b & 0x80) === 0) return value;
      scale *= 0x80;
    }
    return this.fail('varint too long');
  }

  int(): number {
    const z = this.uint();
    const value = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    if (Math.abs(value) > MAX_SIGNED_FIELD) this.fail('signed integer too large');
    return value;
  }

  /** A copy, so the command owns its bytes whatever the caller later does with the entry buffer. */
  bytes(): Uint8Array {
    const length = this.uint();
    if (length > this.remaining()) this.fail('truncated bytes');
    // Not data.slice: on a Buffer that is a view, and the result must be a plain Uint8Array.
    const out = new Uint8Array(length);
    out.set(this.data.subarray(this.pos, this.pos + length));
    this.pos += length;
    return out;
  }

  /** An element count: each element takes at least one byte, which bounds allocation by the input. */
  count(): number {
    const n = this.uint();
    if (n > this.remaining()) this.fail('count larger than the input');
    return n;
  }

  end(): void {
    if (this.pos !== this.data.byteLength) this.fail('trailing bytes');
  }
}

function readPut(r: Reader): PutRequest {
  const flags = r.byte();
  if ((flags & ~PUT_FLAGS) !== 0) r.fail('unknown put flags');
  const key = r.bytes();
  const value = r.bytes();
  const out: { -readonly [K in keyof PutRequest]: PutRequest[K] } = { key, value };
  if (flags & PUT_HAS_LEASE) {
    out.lease = r.uint();
    if (out.lease === 0) r.fail('lease flag with lease 0');
  }
  if (flags & PUT_PREV_KV) out.prevKv = true;
  if (flags & PUT_IGNORE_VALUE) out.ignoreValue = true;
  if (flags & PUT_IGNORE_LEASE) out.ignoreLease = true;
  return out;
}

function readDeleteRange(r: Reader): DeleteRangeRequest {
  const flags = r.byte();
  if ((flags & ~DEL_FLAGS) !== 0) r.fail('unknown deleteRange flags');
  const out: { -readonly [K in keyof DeleteRangeRequest]: DeleteRangeRequest[K] } = { key: r.bytes() };
  if (flags & DEL_HAS_RANGE_END) out.rangeEnd = nonEmpty(r, r.bytes());
  if (flags & DEL_PREV_KV) out.prevKv = true;
  return out;
}

function nonEmpty(r: Reader, bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength === 0) r.fail('empty rangeEnd with its flag set');
  return bytes;
}

function nonZero(r: Reader, value: number): number {
  if (value === 0) r.fail('zero field with its flag set');
  return value;
}

function readRange(r: Reader): RangeRequest {
  const flags = r.uint();
  if (flags >= RANGE_FLAGS_LIMIT) r.fail('unknown range flags');
  const sortOrder = SORT_ORDERS[(flags >> RANGE_SORT_ORDER_SHIFT) & 3];
  const sortTarget = SORT_TARGETS[(flags >> RANGE_SORT_TARGET_SHIFT) & 7];
  if (sortOrder === undefined || sortTarget === undefined) r.fail('unknown sort');
  const out: { -readonly [K in keyof RangeRequest]: RangeRequest[K] } = { key: r.bytes() };
  if (flags & RANGE_HAS_RANGE_END) out.rangeEnd = nonEmpty(r, r.bytes());
  if (flags & RANGE_HAS_LIMIT) out.limit = nonZero(r, r.int());
  if (flags & RANGE_HAS_REVISION) out.revision = nonZero(r, r.int());
  if (flags & RANGE_HAS_MIN_MOD) out.minModRevision = nonZero(r, r.int());
  if (flags & RANGE_HAS_MAX_MOD) out.maxModRevision = nonZero(r, r.int());
  if (flags & RANGE_HAS_MIN_CREATE) out.minCreateRevision = nonZero(r, r.int());
  if (flags & RANGE_HAS_MAX_CREATE) out.maxCreateRevision = nonZero(r, r.int());
  if (flags & RANGE_KEYS_ONLY) out.keysOnly = true;
  if (flags & RANGE_COUNT_ONLY) out.countOnly = true;
  if (sortOrder !== 'none') out.sortOrder = sortOrder;
  if (sortTarget !== 'key') out.sortTarget = sortTarget;
  return out;
}

function readCompare(r: Reader): Compare {
  const head = r.byte();
  if (head >= CMP_HAS_RANGE_END << 1) r.fail('unknown compare flags');
  const target = COMPARE_TARGETS[head & 7];
  const result = COMPARE_RESULTS[(head >> 3) & 3];
  if (target === undefined || result === undefined) r.fail('unknown compare target or result');
  const key = r.bytes();
  const rangeEnd = head & CMP_HAS_RANGE_END ? nonEmpty(r, r.bytes()) : undefined;
  const operand = target === 'value' ? r.bytes() : r.int();
  return rangeEnd === undefined
    ? { key, target, result, operand }
    : { key, rangeEnd, target, result, operand };
}

function readOps(r: Reader, depth: number): RequestOp[] {
  const n = r.count();
  const ops: RequestOp[] = [];
  for (let i = 0; i < n; i++) {
    const tag = r.byte();
    switch (tag) {
      case OP_RANGE:
        ops.push({ range: readRange(r) });
        break;
      case OP_PUT:
        ops.push({ put: readPut(r) });
        break;
      case OP_DELETE_RANGE:
        ops.push({ deleteRange: readDeleteRange(r) });
        break;
      case OP_TXN:
        ops.push({ txn: readTxn(r, depth + 1) });
        break;
      default:
        r.fail(`unknown txn op ${tag}`);
    }
  }
  return ops;
}

function readTxn(r: Reader, depth: number): TxnRequest {
  if (depth > MAX_TXN_DEPTH) r.fail(`txn nesting deeper than ${MAX_TXN_DEPTH}`);
  const n = r.count();
  const compare: Compare[] = [];
  for (let i = 0; i < n; i++) compare.push(readCompare(r));
  const success = readOps(r, depth);
  const failure = readOps(r, depth);
  return { compare, success, failure };
}

/** Decode a Raft entry payload. Throws MK_INVALID_ARGUMENT for anything malformed. */
export function decodeCommand(data: Uint8Array): Command {
  if (!(data instanceof Uint8Array)) throw invalid('a command must be bytes');
  const r = new Reader(data);
  const version = r.byte();
  if (version !== COMMAND_FORMAT_VERSION) {
    throw invalid(
      `unsupported command encoding version ${version} (this node reads ${COMMAND_FORMAT_VERSION})`,
    );
  }
  const tag = r.byte();
  let cmd: Command;
  switch (tag) {
    case CMD_PUT:
      cmd = { type: 'put', request: readPut(r) };
      break;
    case CMD_DELETE_RANGE:
      cmd = { type: 'deleteRange', request: readDeleteRange(r) };
      break;
    case CMD_TXN:
      cmd = { type: 'txn', request: readTxn(r, 1) };
      break;
    case CMD_COMPACT:
      cmd = { type: 'compact', revision: r.uint() };
      break;
    case CMD_LEASE_GRANT: {
      const id = r.uint();
      cmd = { type: 'leaseGrant', id, ttl: r.uint() };
      break;
    }
    case CMD_LEASE_REVOKE:
      cmd = { type: 'leaseRevoke', id: r.uint() };
      break;
    case CMD_LEASE_EXPIRE:
      cmd = { type: 'leaseExpire', id: r.uint() };
      break;
    case CMD_LEASE_KEEP_ALIVE:
      cmd = { type: 'leaseKeepAlive', id: r.uint() };
      break;
    case CMD_MEMBER_SET:
    case CMD_MEMBER_ADD: {
      const id = r.uint();
      const failureDomain = text(r, 'failure domain');
      const weight = r.uint();
      const draining = r.uint();
      if (draining > 1) return r.fail('draining flag');
      const peerAddress = text(r, 'peer address');
      const clientUrl = text(r, 'client URL');
      const removal = MEMBER_REMOVALS[r.uint()];
      if (removal === undefined) return r.fail('member removal');
      cmd = {
        type: tag === CMD_MEMBER_SET ? 'memberSet' : 'memberAdd',
        id,
        failureDomain,
        weight,
        draining: draining === 1,
        peerAddress,
        clientUrl,
        removal,
      };
      break;
    }
    case CMD_MEMBER_REMOVE:
      cmd = { type: 'memberRemove', id: r.uint() };
      break;
    default:
      return r.fail(`unknown command tag ${tag}`);
  }
  r.end();
  return cmd;
}
