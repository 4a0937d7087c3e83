/**
 * The KV service: Range, Put, DeleteRange, Txn and Compact. Requests are validated here in etcd's
 * order (so a bad request never reaches the Raft log), writes go through `backend.execute`, and
 * every response carries the header of the revision it saw or made.
 */
import { checkTxnStatic } from '../state/txn.js';
import type {
  ApplyResult,
  CommandResponse,
  DeleteRangeResponse,
  KeyValue,
  PutResponse,
  RangeResponse,
  ResponseOp,
  TxnResponse,
} from '../state/types.js';
import type { EtcdBackend, EtcdHeaderInfo } from './backend.js';
import {
  deleteFromWire,
  headerOut,
  kvOut,
  putFromWire,
  rangeFromWire,
  signed,
  txnBytes,
  txnFromWire,
} from './convert.js';
import { commandFailure, etcdError } from './errors.js';
import type { EtcdServerLimits } from './limits.js';
import type {
  OutHeader,
  OutKeyValue,
  WireCompactionRequest,
  WireDeleteRangeRequest,
  WirePutRequest,
  WireRangeRequest,
  WireTxnRequest,
} from './proto.js';
import { encodeRangeResponse } from './wire.js';

export interface OutRangeResponse {
  header: OutHeader;
  kvs: OutKeyValue[];
  more: boolean;
  count: number;
}

export interface OutPutResponse {
  header: OutHeader;
  prev_kv: OutKeyValue | null;
}

export interface OutDeleteRangeResponse {
  header: OutHeader;
  deleted: number;
  prev_kvs: OutKeyValue[];
}

export type OutResponseOp =
  | { response_range: OutRangeResponse }
  | { response_put: OutPutResponse }
  | { response_delete_range: OutDeleteRangeResponse }
  | { response_txn: OutTxnResponse };

export interface OutTxnResponse {
  header: OutHeader;
  succeeded: boolean;
  responses: OutResponseOp[];
}

/** Size of a put as etcd's request limit counts it: key and value plus a little framing. */
const PUT_OVERHEAD_BYTES = 16;

function okResponse<T extends CommandResponse['type']>(
  result: ApplyResult,
  type: T,
): Extract<CommandResponse, { type: T }> {
  if (!result.ok) throw commandFailure(result.error);
  if (result.response.type !== type) {
    throw new Error(`a ${type} command answered with ${result.response.type}`);
  }
  return result.response as Extract<CommandResponse, { type: T }>;
}

function kvsOut(kvs: readonly KeyValue[]): OutKeyValue[] {
  return kvs.map(kvOut);
}

export function rangeOut(h: EtcdHeaderInfo, r: RangeResponse): OutRangeResponse {
  return { header: headerOut(h, r.revision), kvs: kvsOut(r.kvs), more: r.more, count: r.count };
}

function putOut(h: EtcdHeaderInfo, r: PutResponse): OutPutResponse {
  return { header: headerOut(h, r.revision), prev_kv: r.prevKv ? kvOut(r.prevKv) : null };
}

function deleteOut(h: EtcdHeaderInfo, r: DeleteRangeResponse): OutDeleteRangeResponse {
  return { header: headerOut(h, r.revision), deleted: r.deleted, prev_kvs: kvsOut(r.prevKvs) };
}

/** Responses inside a txn carry only a revision in their header, as etcd's do. */
function innerHeader(h: EtcdHeaderInfo): EtcdHeaderInfo {
  return { clusterId: 0n, memberId: 0n, raftTerm: 0, revision: h.revision };
}

function responseOpOut(h: EtcdHeaderInfo, op: ResponseOp): OutResponseOp {
  if ('range' in op) return { response_range: rangeOut(h, op.range) };
  if ('put' in op) return { response_put: putOut(h, op.put) };
  if ('deleteRange' in op) return { response_delete_range: deleteOut(h, op.deleteRange) };
  // etcd leaves the header of a nested txn's response empty (revision 0).
  const nested = txnOut({ clusterId: 0n, memberId: 0n, raftTerm: 0, revision: 0 }, op.txn);
  return { response_txn: { ...nested, header: headerOut(innerHeader(h), 0) } };
}

function txnOut(h: EtcdHeaderInfo, r: TxnResponse): OutTxnResponse {
  return {
    header: headerOut(h, r.revision),
    succeeded: r.succeeded,
    responses: r.responses.map((op) => responseOpOut(innerHeader(h), op)),
  };
}

export class KvService {
  constructor(
    private readonly backend: EtcdBackend,
    private readonly limits: EtcdServerLimits,
  ) {}

  /** Answered as the encoded RangeResponse (wire.ts): a page of a list is the largest answer. */
  async range(req: WireRangeRequest): Promise<Buffer> {
    const request = rangeFromWire(req);
    const result = await this.backend.range(request, !req.serializable);
    return encodeRangeResponse(this.backend.header(), result);
  }

  async put(req: WirePutRequest): Promise<OutPutResponse> {
    const request = putFromWire(req);
    if (
      request.key.byteLength + request.value.byteLength + PUT_OVERHEAD_BYTES >
      this.limits.maxRequestBytes
    ) {
      throw etcdError('requestTooLarge');
    }
    const response = okResponse(await this.backend.execute({ type: 'put', request }), 'put');
    return putOut(this.backend.header(), response.response);
  }

  async deleteRange(req: WireDeleteRangeRequest): Promise<OutDeleteRangeResponse> {
    const request = deleteFromWire(req);
    const response = okResponse(await this.backend.execute({ type: 'deleteRange', request }), 'deleteRange');
    return deleteOut(this.backend.header(), response.response);
  }

  async txn(req: WireTxnRequest): Promise<OutTxnResponse> {
    const request = txnFromWire(req, this.limits.maxTxnOps);
    // Duplicate keys and the per-op checks, before the request costs a Raft entry.
    checkTxnStatic(request);
    if (txnBytes(request) > this.limits.maxRequestBytes) throw etcdError('requestTooLarge');
    const response = okResponse(await this.backend.execute({ type: 'txn', request }), 'txn');
    return txnOut(this.backend.header(), response.response);
  }

  async compact(req: WireCompactionRequest): Promise<{ header: OutHeader }> {
    // A revision <= 0 is at or below any compact revision: the state machine answers "compacted".
    const revision = Math.max(0, signed(req.revision));
    const response = okResponse(await this.backend.execute({ type: 'compact', revision }), 'compact');
    // Compaction runs inside the apply, so `physical` is always honoured.
    return { header: headerOut(this.backend.header(), response.revision) };
  }
}
