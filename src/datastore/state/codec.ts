/**
 * The binary encoding of a Command, the payload of a Raft entry. Hand-written because it sits on
 * the hot path of every write on every replica and keys and values are raw bytes (JSON would
 * need base64 and a parse). Layout, all integers canonical LEB128 varints (src/lib/bytes.ts):
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
import { ByteReader, ByteWriter, type ReadFailure } from '../../lib/bytes.js';
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

function invalid(message: string): MicroK8sError {
  return new MicroK8sError('MK_INVALID_ARGUMENT', message);
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** An unsigned field: a varint of a safe non-negative integer; anything else is the caller's bad value. */
function uint(w: ByteWriter, value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${field} must be a non-negative integer up to 2^53 - 1, got ${value}`);
  }
  w.varint(value);
}

/** A signed field: zigzag, so that small negatives stay short. */
function int(w: ByteWriter, value: number, field: string): void {
  if (!Number.isSafeInteger(value) || Math.abs(value) > MAX_SIGNED_FIELD) {
    throw invalid(`${field} must be an integer of magnitude up to ${MAX_SIGNED_FIELD}, got ${value}`);
  }
  w.varint(value >= 0 ? value * 2 : -value * 2 - 1);
}

/** A bytes field: length, then the raw bytes. */
function blob(w: ByteWriter, value: Uint8Array, field: string): void {
  if (!(value instanceof Uint8Array)) throw invalid(`${field} must be bytes`);
  w.lengthPrefixed(value);
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

function writePut(w: ByteWriter, r: PutRequest): void {
  let flags = 0;
  if (r.prevKv) flags |= PUT_PREV_KV;
  if (r.ignoreValue) flags |= PUT_IGNORE_VALUE;
  if (r.ignoreLease) flags |= PUT_IGNORE_LEASE;
  if (present(r.lease)) flags |= PUT_HAS_LEASE;
  w.u8(flags);
  blob(w, r.key, 'put.key');
  blob(w, r.value, 'put.value');
  if (present(r.lease)) uint(w, r.lease, 'put.lease');
}

function writeDeleteRange(w: ByteWriter, r: DeleteRangeRequest): void {
  let flags = 0;
  if (r.prevKv) flags |= DEL_PREV_KV;
  if (hasBytes(r.rangeEnd)) flags |= DEL_HAS_RANGE_END;
  w.u8(flags);
  blob(w, r.key, 'deleteRange.key');
  if (hasBytes(r.rangeEnd)) blob(w, r.rangeEnd, 'deleteRange.rangeEnd');
}

function writeRange(w: ByteWriter, r: RangeRequest): void {
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
  uint(w, flags, 'range.flags');
  blob(w, r.key, 'range.key');
  if (hasBytes(r.rangeEnd)) blob(w, r.rangeEnd, 'range.rangeEnd');
  if (present(r.limit)) int(w, r.limit, 'range.limit');
  if (present(r.revision)) int(w, r.revision, 'range.revision');
  if (present(r.minModRevision)) int(w, r.minModRevision, 'range.minModRevision');
  if (present(r.maxModRevision)) int(w, r.maxModRevision, 'range.maxModRevision');
  if (present(r.minCreateRevision)) int(w, r.minCreateRevision, 'range.minCreateRevision');
  if (present(r.maxCreateRevision)) int(w, r.maxCreateRevision, 'range.maxCreateRevision');
}

function writeCompare(w: ByteWriter, c: Compare): void {
  const target = indexOf(COMPARE_TARGETS, c.target, c.target, 'compare.target');
  const result = indexOf(COMPARE_RESULTS, c.result, c.result, 'compare.result');
  w.u8(target | (result << 3) | (hasBytes(c.rangeEnd) ? CMP_HAS_RANGE_END : 0));
  blob(w, c.key, 'compare.key');
  if (hasBytes(c.rangeEnd)) blob(w, c.rangeEnd, 'compare.rangeEnd');
  if (c.target === 'value') {
    if (!(c.operand instanceof Uint8Array)) throw invalid('a value compare needs a bytes operand');
    blob(w, c.operand, 'compare.operand');
  } else {
    if (typeof c.operand !== 'number') throw invalid(`a ${c.target} compare needs a number operand`);
    int(w, c.operand, 'compare.operand');
  }
}

function writeOps(w: ByteWriter, ops: readonly RequestOp[], depth: number): void {
  uint(w, ops.length, 'txn ops');
  for (const op of ops) {
    if ('range' in op) {
      w.u8(OP_RANGE);
      writeRange(w, op.range);
    } else if ('put' in op) {
      w.u8(OP_PUT);
      writePut(w, op.put);
    } else if ('deleteRange' in op) {
      w.u8(OP_DELETE_RANGE);
      writeDeleteRange(w, op.deleteRange);
    } else if ('txn' in op) {
      w.u8(OP_TXN);
      writeTxn(w, op.txn, depth + 1);
    } else {
      throw invalid('a txn op must be one of range, put, deleteRange, txn');
    }
  }
}

function writeTxn(w: ByteWriter, t: TxnRequest, depth: number): void {
  if (depth > MAX_TXN_DEPTH) throw invalid(`txn nesting deeper than ${MAX_TXN_DEPTH}`);
  uint(w, t.compare.length, 'txn compares');
  for (const c of t.compare) writeCompare(w, c);
  writeOps(w, t.success, depth);
  writeOps(w, t.failure, depth);
}

/** Encode a command for the Raft log. Throws MK_INVALID_ARGUMENT for a value it cannot represent. */
export function encodeCommand(cmd: Command): Uint8Array {
  const w = new ByteWriter(ENCODE_INITIAL_BYTES);
  w.u8(COMMAND_FORMAT_VERSION);
  switch (cmd.type) {
    case 'put':
      w.u8(CMD_PUT);
      writePut(w, cmd.request);
      break;
    case 'deleteRange':
      w.u8(CMD_DELETE_RANGE);
      writeDeleteRange(w, cmd.request);
      break;
    case 'txn':
      w.u8(CMD_TXN);
      writeTxn(w, cmd.request, 1);
      break;
    case 'compact':
      w.u8(CMD_COMPACT);
      uint(w, cmd.revision, 'compact.revision');
      break;
    case 'leaseGrant':
      w.u8(CMD_LEASE_GRANT);
      uint(w, cmd.id, 'leaseGrant.id');
      uint(w, cmd.ttl, 'leaseGrant.ttl');
      break;
    case 'leaseRevoke':
      w.u8(CMD_LEASE_REVOKE);
      uint(w, cmd.id, 'leaseRevoke.id');
      break;
    case 'leaseExpire':
      w.u8(CMD_LEASE_EXPIRE);
      uint(w, cmd.id, 'leaseExpire.id');
      break;
    case 'leaseKeepAlive':
      w.u8(CMD_LEASE_KEEP_ALIVE);
      uint(w, cmd.id, 'leaseKeepAlive.id');
      break;
    case 'memberSet':
    case 'memberAdd':
      w.u8(cmd.type === 'memberSet' ? CMD_MEMBER_SET : CMD_MEMBER_ADD);
      uint(w, cmd.id, 'memberSet.id');
      blob(w, utf8.encode(cmd.failureDomain), 'memberSet.failureDomain');
      uint(w, cmd.weight, 'memberSet.weight');
      uint(w, cmd.draining ? 1 : 0, 'memberSet.draining');
      blob(w, utf8.encode(cmd.peerAddress), 'memberSet.peerAddress');
      blob(w, utf8.encode(cmd.clientUrl), 'memberSet.clientUrl');
      uint(w, MEMBER_REMOVALS.indexOf(cmd.removal), 'memberSet.removal');
      break;
    case 'memberRemove':
      w.u8(CMD_MEMBER_REMOVE);
      uint(w, cmd.id, 'memberRemove.id');
      break;
    default:
      throw invalid(`unknown command type ${String((cmd as { type?: unknown }).type)}`);
  }
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Decoding

function text(r: ByteReader, what: string): string {
  const raw = r.lengthPrefixed('bytes');
  try {
    return strictUtf8.decode(raw);
  } catch {
    return r.fail(`${what} is not UTF-8`);
  }
}

const commandFailure: ReadFailure = (message, offset) =>
  invalid(`malformed command: ${message} at byte ${offset}`);

/** A signed field (zigzag), bounded as the encoder bounds it. */
function readInt(r: ByteReader): number {
  const z = r.varint('integer');
  const value = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  if (Math.abs(value) > MAX_SIGNED_FIELD) r.fail('signed integer too large');
  return value;
}

function readPut(r: ByteReader): PutRequest {
  const flags = r.u8('byte');
  if ((flags & ~PUT_FLAGS) !== 0) r.fail('unknown put flags');
  const key = r.lengthPrefixed('bytes');
  const value = r.lengthPrefixed('bytes');
  const out: { -readonly [K in keyof PutRequest]: PutRequest[K] } = { key, value };
  if (flags & PUT_HAS_LEASE) {
    out.lease = r.varint('integer');
    if (out.lease === 0) r.fail('lease flag with lease 0');
  }
  if (flags & PUT_PREV_KV) out.prevKv = true;
  if (flags & PUT_IGNORE_VALUE) out.ignoreValue = true;
  if (flags & PUT_IGNORE_LEASE) out.ignoreLease = true;
  return out;
}

function readDeleteRange(r: ByteReader): DeleteRangeRequest {
  const flags = r.u8('byte');
  if ((flags & ~DEL_FLAGS) !== 0) r.fail('unknown deleteRange flags');
  const out: { -readonly [K in keyof DeleteRangeRequest]: DeleteRangeRequest[K] } = {
    key: r.lengthPrefixed('bytes'),
  };
  if (flags & DEL_HAS_RANGE_END) out.rangeEnd = nonEmpty(r, r.lengthPrefixed('bytes'));
  if (flags & DEL_PREV_KV) out.prevKv = true;
  return out;
}

function nonEmpty(r: ByteReader, bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength === 0) r.fail('empty rangeEnd with its flag set');
  return bytes;
}

function nonZero(r: ByteReader, value: number): number {
  if (value === 0) r.fail('zero field with its flag set');
  return value;
}

function readRange(r: ByteReader): RangeRequest {
  const flags = r.varint('integer');
  if (flags >= RANGE_FLAGS_LIMIT) r.fail('unknown range flags');
  const sortOrder = SORT_ORDERS[(flags >> RANGE_SORT_ORDER_SHIFT) & 3];
  const sortTarget = SORT_TARGETS[(flags >> RANGE_SORT_TARGET_SHIFT) & 7];
  if (sortOrder === undefined || sortTarget === undefined) r.fail('unknown sort');
  const out: { -readonly [K in keyof RangeRequest]: RangeRequest[K] } = { key: r.lengthPrefixed('bytes') };
  if (flags & RANGE_HAS_RANGE_END) out.rangeEnd = nonEmpty(r, r.lengthPrefixed('bytes'));
  if (flags & RANGE_HAS_LIMIT) out.limit = nonZero(r, readInt(r));
  if (flags & RANGE_HAS_REVISION) out.revision = nonZero(r, readInt(r));
  if (flags & RANGE_HAS_MIN_MOD) out.minModRevision = nonZero(r, readInt(r));
  if (flags & RANGE_HAS_MAX_MOD) out.maxModRevision = nonZero(r, readInt(r));
  if (flags & RANGE_HAS_MIN_CREATE) out.minCreateRevision = nonZero(r, readInt(r));
  if (flags & RANGE_HAS_MAX_CREATE) out.maxCreateRevision = nonZero(r, readInt(r));
  if (flags & RANGE_KEYS_ONLY) out.keysOnly = true;
  if (flags & RANGE_COUNT_ONLY) out.countOnly = true;
  if (sortOrder !== 'none') out.sortOrder = sortOrder;
  if (sortTarget !== 'key') out.sortTarget = sortTarget;
  return out;
}

function readCompare(r: ByteReader): Compare {
  const head = r.u8('byte');
  if (head >= CMP_HAS_RANGE_END << 1) r.fail('unknown compare flags');
  const target = COMPARE_TARGETS[head & 7];
  const result = COMPARE_RESULTS[(head >> 3) & 3];
  if (target === undefined || result === undefined) r.fail('unknown compare target or result');
  const key = r.lengthPrefixed('bytes');
  const rangeEnd = head & CMP_HAS_RANGE_END ? nonEmpty(r, r.lengthPrefixed('bytes')) : undefined;
  const operand = target === 'value' ? r.lengthPrefixed('bytes') : readInt(r);
  return rangeEnd === undefined
    ? { key, target, result, operand }
    : { key, rangeEnd, target, result, operand };
}

function readOps(r: ByteReader, depth: number): RequestOp[] {
  const n = r.count('count');
  const ops: RequestOp[] = [];
  for (let i = 0; i < n; i++) {
    const tag = r.u8('byte');
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

function readTxn(r: ByteReader, depth: number): TxnRequest {
  if (depth > MAX_TXN_DEPTH) r.fail(`txn nesting deeper than ${MAX_TXN_DEPTH}`);
  const n = r.count('count');
  const compare: Compare[] = [];
  for (let i = 0; i < n; i++) compare.push(readCompare(r));
  const success = readOps(r, depth);
  const failure = readOps(r, depth);
  return { compare, success, failure };
}

/** Decode a Raft entry payload. Throws MK_INVALID_ARGUMENT for anything malformed. */
export function decodeCommand(data: Uint8Array): Command {
  if (!(data instanceof Uint8Array)) throw invalid('a command must be bytes');
  const r = new ByteReader(data, commandFailure);
  const version = r.u8('byte');
  if (version !== COMMAND_FORMAT_VERSION) {
    throw invalid(
      `unsupported command encoding version ${version} (this node reads ${COMMAND_FORMAT_VERSION})`,
    );
  }
  const tag = r.u8('byte');
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
      cmd = { type: 'compact', revision: r.varint('integer') };
      break;
    case CMD_LEASE_GRANT: {
      const id = r.varint('integer');
      cmd = { type: 'leaseGrant', id, ttl: r.varint('integer') };
      break;
    }
    case CMD_LEASE_REVOKE:
      cmd = { type: 'leaseRevoke', id: r.varint('integer') };
      break;
    case CMD_LEASE_EXPIRE:
      cmd = { type: 'leaseExpire', id: r.varint('integer') };
      break;
    case CMD_LEASE_KEEP_ALIVE:
      cmd = { type: 'leaseKeepAlive', id: r.varint('integer') };
      break;
    case CMD_MEMBER_SET:
    case CMD_MEMBER_ADD: {
      const id = r.varint('integer');
      const failureDomain = text(r, 'failure domain');
      const weight = r.varint('integer');
      const draining = r.varint('integer');
      if (draining > 1) return r.fail('draining flag');
      const peerAddress = text(r, 'peer address');
      const clientUrl = text(r, 'client URL');
      const removal = MEMBER_REMOVALS[r.varint('integer')];
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
      cmd = { type: 'memberRemove', id: r.varint('integer') };
      break;
    default:
      return r.fail(`unknown command tag ${tag}`);
  }
  r.expectEnd('the command');
  return cmd;
}
