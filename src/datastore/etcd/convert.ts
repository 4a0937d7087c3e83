/**
 * Translation between the decoded wire messages (see proto.ts for the decoding options) and the
 * state machine's types. Requests are validated in etcd's order, with etcd's errors.
 *
 * Integers: int64 fields arrive as decimal strings. Revisions, limits and compare operands are
 * clamped to the state machine's signed range (2^52 - 1): no real revision gets near it, so a
 * clamped value compares the same way and a huge revision is still "a future revision". Lease ids
 * are exact: this datastore hands out ids below 2^53, so a larger or negative id names no lease.
 */
import { MAX_SIGNED_FIELD } from '../state/limits.js';
import type {
  Compare,
  CompareResult,
  CompareTarget,
  DeleteRangeRequest,
  KeyValue,
  PutRequest,
  RangeRequest,
  RequestOp,
  SortOrder,
  SortTarget,
  TxnRequest,
  WatchEvent,
} from '../state/types.js';
import type { EtcdHeaderInfo } from './backend.js';
import { etcdError, invalidRequest } from './errors.js';
import type {
  OutHeader,
  OutKeyValue,
  WireCompare,
  WireDeleteRangeRequest,
  WireInt64,
  WirePutRequest,
  WireRangeRequest,
  WireRequestOp,
  WireTxnRequest,
} from './proto.js';

const EMPTY = new Uint8Array(0);
const MAX_SIGNED = BigInt(MAX_SIGNED_FIELD);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Parse a decoded int64; anything unparsable is a bad request. */
export function int64(value: WireInt64 | number | undefined | null): bigint {
  if (value === undefined || value === null || value === '') return 0n;
  try {
    return BigInt(value);
  } catch {
    throw invalidRequest(`malformed integer ${JSON.stringify(value)}`);
  }
}

/** A signed field clamped to the state machine's range. */
export function signed(value: WireInt64 | number | undefined | null): number {
  const v = int64(value);
  if (v > MAX_SIGNED) return MAX_SIGNED_FIELD;
  if (v < -MAX_SIGNED) return -MAX_SIGNED_FIELD;
  return Number(v);
}

/** A lease id: 0 for none, a positive safe integer, or undefined for an id no lease can have. */
export function leaseId(value: WireInt64 | number | undefined | null): number | undefined {
  const v = int64(value);
  if (v === 0n) return 0;
  if (v < 0n || v > MAX_SAFE) return undefined;
  return Number(v);
}

function bytes(value: Uint8Array | null | undefined): Uint8Array {
  return value ?? EMPTY;
}

/** An empty range_end means "the single key": the state machine takes undefined for that. */
function rangeEnd(value: Uint8Array | null | undefined): Uint8Array | undefined {
  return value && value.byteLength > 0 ? value : undefined;
}

const SORT_ORDERS: readonly SortOrder[] = ['none', 'ascend', 'descend'];
const SORT_TARGETS: readonly SortTarget[] = ['key', 'version', 'create', 'mod', 'value'];
const COMPARE_RESULTS: readonly CompareResult[] = ['equal', 'greater', 'less', 'not_equal'];
const COMPARE_TARGETS: readonly CompareTarget[] = ['version', 'create', 'mod', 'value', 'lease'];

function optionalRevision(value: WireInt64): number | undefined {
  const v = signed(value);
  return v > 0 ? v : undefined;
}

/** etcd's checkRangeRequest, then the translation. */
export function rangeFromWire(req: WireRangeRequest): RangeRequest {
  if (bytes(req.key).byteLength === 0) throw etcdError('emptyKey');
  const sortOrder = SORT_ORDERS[req.sort_order];
  const sortTarget = SORT_TARGETS[req.sort_target];
  if (sortOrder === undefined || sortTarget === undefined) throw etcdError('invalidSortOption');
  const out: {
    -readonly [K in keyof RangeRequest]: RangeRequest[K];
  } = { key: req.key };
  const end = rangeEnd(req.range_end);
  if (end) out.rangeEnd = end;
  const limit = signed(req.limit);
  if (limit > 0) out.limit = limit;
  const revision = optionalRevision(req.revision);
  if (revision !== undefined) out.revision = revision;
  if (sortOrder !== 'none') out.sortOrder = sortOrder;
  if (sortTarget !== 'key') out.sortTarget = sortTarget;
  if (req.keys_only) out.keysOnly = true;
  if (req.count_only) out.countOnly = true;
  const minMod = optionalRevision(req.min_mod_revision);
  if (minMod !== undefined) out.minModRevision = minMod;
  const maxMod = optionalRevision(req.max_mod_revision);
  if (maxMod !== undefined) out.maxModRevision = maxMod;
  const minCreate = optionalRevision(req.min_create_revision);
  if (minCreate !== undefined) out.minCreateRevision = minCreate;
  const maxCreate = optionalRevision(req.max_create_revision);
  if (maxCreate !== undefined) out.maxCreateRevision = maxCreate;
  return out;
}

/**
 * A lease id for a put inside a txn that names no possible lease: etcd checks a txn's leases only
 * on the branch taken, so the request is valid and the state machine says "not found" if needed.
 * Ids handed out here stay far below it.
 */
const NO_SUCH_LEASE = Number.MAX_SAFE_INTEGER;

/** etcd's checkPutRequest, then the translation. */
export function putFromWire(req: WirePutRequest, inTxn = false): PutRequest {
  const key = bytes(req.key);
  const value = bytes(req.value);
  if (key.byteLength === 0) throw etcdError('emptyKey');
  const lease = leaseId(req.lease);
  if (req.ignore_value && value.byteLength !== 0) throw etcdError('valueProvided');
  if (req.ignore_lease && lease !== 0) throw etcdError('leaseProvided');
  // No lease can have this id: the lease check of the apply would say so.
  if (lease === undefined && !inTxn) throw etcdError('leaseNotFound');
  const out: { -readonly [K in keyof PutRequest]: PutRequest[K] } = { key, value };
  if (lease !== 0) out.lease = lease ?? NO_SUCH_LEASE;
  if (req.prev_kv) out.prevKv = true;
  if (req.ignore_value) out.ignoreValue = true;
  if (req.ignore_lease) out.ignoreLease = true;
  return out;
}

/** etcd's checkDeleteRequest, then the translation. */
export function deleteFromWire(req: WireDeleteRangeRequest): DeleteRangeRequest {
  const key = bytes(req.key);
  if (key.byteLength === 0) throw etcdError('emptyKey');
  const out: { -readonly [K in keyof DeleteRangeRequest]: DeleteRangeRequest[K] } = { key };
  const end = rangeEnd(req.range_end);
  if (end) out.rangeEnd = end;
  if (req.prev_kv) out.prevKv = true;
  return out;
}

function compareFromWire(c: WireCompare): Compare {
  const target = COMPARE_TARGETS[c.target];
  const result = COMPARE_RESULTS[c.result];
  if (target === undefined) throw invalidRequest(`unknown compare target ${c.target}`);
  if (result === undefined) throw invalidRequest(`unknown compare result ${c.result}`);
  // etcd reads the union member of the target; another member (or none) reads as 0 / empty bytes.
  let operand: number | Uint8Array;
  switch (target) {
    case 'value':
      operand = c.target_union === 'value' ? bytes(c.value) : EMPTY;
      break;
    case 'version':
      operand = c.target_union === 'version' ? signed(c.version) : 0;
      break;
    case 'create':
      operand = c.target_union === 'create_revision' ? signed(c.create_revision) : 0;
      break;
    case 'mod':
      operand = c.target_union === 'mod_revision' ? signed(c.mod_revision) : 0;
      break;
    case 'lease':
      operand = c.target_union === 'lease' ? signed(c.lease) : 0;
      break;
  }
  const out: { -readonly [K in keyof Compare]: Compare[K] } = { key: bytes(c.key), target, result, operand };
  const end = rangeEnd(c.range_end);
  if (end) out.rangeEnd = end;
  return out;
}

function opFromWire(op: WireRequestOp, maxTxnOps: number): RequestOp {
  switch (op.request) {
    case 'request_range':
      return { range: rangeFromWire(op.request_range!) };
    case 'request_put':
      return { put: putFromWire(op.request_put!, true) };
    case 'request_delete_range':
      return { deleteRange: deleteFromWire(op.request_delete_range!) };
    case 'request_txn':
      return { txn: txnFromWire(op.request_txn!, maxTxnOps) };
    default:
      // An empty RequestOp: etcd rejects it deep in apply; nothing sensible to run.
      throw invalidRequest('empty request op in txn');
  }
}

/** etcd's checkTxnRequest (op count, empty compare keys, each op), then the translation. */
export function txnFromWire(req: WireTxnRequest, maxTxnOps: number): TxnRequest {
  const compare = req.compare ?? [];
  const success = req.success ?? [];
  const failure = req.failure ?? [];
  const opc = Math.max(compare.length, success.length, failure.length);
  if (opc > maxTxnOps) throw etcdError('tooManyOps');
  for (const c of compare) if (bytes(c.key).byteLength === 0) throw etcdError('emptyKey');
  const nestedMax = maxTxnOps - opc;
  return {
    compare: compare.map(compareFromWire),
    success: success.map((op) => opFromWire(op, nestedMax)),
    failure: failure.map((op) => opFromWire(op, nestedMax)),
  };
}

/** Bytes a write carries (what etcd's request size limit is about), roughly as encoded. */
export function txnBytes(req: TxnRequest): number {
  let n = 0;
  for (const c of req.compare) {
    n += c.key.byteLength + (c.rangeEnd?.byteLength ?? 0) + 16;
    if (c.operand instanceof Uint8Array) n += c.operand.byteLength;
  }
  for (const op of [...req.success, ...req.failure]) n += opBytes(op);
  return n;
}

function opBytes(op: RequestOp): number {
  if ('put' in op) return op.put.key.byteLength + op.put.value.byteLength + 16;
  if ('range' in op) return op.range.key.byteLength + (op.range.rangeEnd?.byteLength ?? 0) + 32;
  if ('deleteRange' in op)
    return op.deleteRange.key.byteLength + (op.deleteRange.rangeEnd?.byteLength ?? 0) + 8;
  return txnBytes(op.txn) + 8;
}

// ------------------------------------------------------------------ responses

export function headerOut(h: EtcdHeaderInfo, revision: number = h.revision): OutHeader {
  return {
    cluster_id: h.clusterId.toString(),
    member_id: h.memberId.toString(),
    revision,
    raft_term: h.raftTerm,
  };
}

export function kvOut(kv: KeyValue): OutKeyValue {
  return {
    key: kv.key,
    create_revision: kv.createRevision,
    mod_revision: kv.modRevision,
    version: kv.version,
    value: kv.value,
    lease: kv.lease,
  };
}

/** Encoded size of a key-value, near enough to split responses. */
export function kvBytes(kv: KeyValue): number {
  return kv.key.byteLength + kv.value.byteLength + 32;
}

export function eventBytes(ev: WatchEvent, withPrev: boolean): number {
  return kvBytes(ev.kv) + (withPrev && ev.prevKv ? kvBytes(ev.prevKv) : 0) + 8;
}
