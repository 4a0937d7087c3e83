/**
 * Put and DeleteRange, at top level or inside a txn. Checks are split in two so that a command
 * is rejected before its first change: `check*Static` looks at the request alone (what etcd's API
 * layer validates), `checkPutState` at the state before the command (what etcd's apply checks).
 */
import { keySpan, plainBytes } from './bytes.js';
import { ETCD_MESSAGES, invalidArgument, leaseNotFoundError } from './failures.js';
import { type KvCore, rowToKv } from './mvcc.js';
import { checkKey } from './range.js';
import type { DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse } from './types.js';

export function checkPutStatic(req: PutRequest): void {
  checkKey(req.key);
  if (req.ignoreValue && req.value.byteLength !== 0) throw invalidArgument(ETCD_MESSAGES.valueProvided);
  if (req.ignoreLease && req.lease) throw invalidArgument(ETCD_MESSAGES.leaseProvided);
}

export function checkDeleteStatic(req: DeleteRangeRequest): void {
  checkKey(req.key);
}

/**
 * The state checks of a put. etcd checks the lease first for a plain put and the key first for a
 * put inside a txn; `leaseFirst` keeps both orders.
 */
export function checkPutState(core: KvCore, req: PutRequest, leaseFirst: boolean): void {
  const leaseMissing = Boolean(req.lease) && !core.leaseExists(req.lease!);
  if (leaseFirst && leaseMissing) throw leaseNotFoundError();
  if ((req.ignoreValue || req.ignoreLease) && core.getLive(req.key, false) === undefined) {
    throw invalidArgument(ETCD_MESSAGES.keyNotFound);
  }
  if (leaseMissing) throw leaseNotFoundError();
}

/** Apply a checked put inside an open revision. */
export function doPut(core: KvCore, req: PutRequest): PutResponse {
  // The previous value is needed for the event's prevKv, the response's prevKv, or to keep it.
  const prev = core.getLive(req.key, core.recording || Boolean(req.prevKv) || Boolean(req.ignoreValue));
  const value = req.ignoreValue ? plainBytes(prev!.value!) : req.value;
  const lease = req.ignoreLease ? prev!.lease : (req.lease ?? 0);
  core.put(req.key, value, lease, prev);
  const revision = core.pendingRevision;
  return req.prevKv && prev !== undefined ? { revision, prevKv: rowToKv(prev) } : { revision };
}

/** Apply a checked delete inside an open revision; deleting nothing changes nothing. */
export function doDeleteRange(core: KvCore, req: DeleteRangeRequest): DeleteRangeResponse {
  const rows = core.liveRows(keySpan(req.key, req.rangeEnd), core.recording || Boolean(req.prevKv));
  for (const row of rows) core.delete(row);
  return {
    revision: core.viewRevision(),
    deleted: rows.length,
    prevKvs: req.prevKv ? rows.map(rowToKv) : [],
  };
}
