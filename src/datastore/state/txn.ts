/**
 * Txn with etcd's semantics. In order:
 *  1. static checks of both branches, recursively (empty keys, ignore flags, duplicate keys);
 *  2. the path: the compares of the txn and of every nested txn on the chosen branches, all
 *     evaluated against the state before the txn (etcd's compareToPath);
 *  3. state checks of the ops on the path (leases exist, ignore* keys exist, range revisions);
 *  4. execution of the ops in order, in one revision; a range sees the earlier writes of the txn.
 * Nothing is written before step 4, so a rejected txn changes nothing.
 *
 * Duplicate keys: a key may be written by at most one put or delete on any path (puts in the two
 * branches of one nested txn exclude each other, overlapping deletes are harmless). etcd's check
 * depends on the order of sibling nested txns and lets "put k in one nested txn, delete k in a
 * later one" through; this one rejects that too, because every key changes at most once per
 * revision here.
 */
import { assert } from '../../lib/assert.js';
import { bytesKey, compareBytes, type KeySpan, keySpan, spanContains } from './bytes.js';
import { ETCD_MESSAGES, invalidArgument } from './failures.js';
import type { KvCore } from './mvcc.js';
import { checkDeleteStatic, checkPutState, checkPutStatic, doDeleteRange, doPut } from './ops.js';
import { checkKey, checkReadRevision, readRange } from './range.js';
import type { KeyRow } from './sql.js';
import type { Compare, RequestOp, ResponseOp, TxnRequest, TxnResponse } from './types.js';

interface Writes {
  /** Keys put, by bytesKey. */
  readonly puts: Map<string, Uint8Array>;
  readonly deletes: KeySpan[];
}

function duplicate(): Error {
  return invalidArgument(ETCD_MESSAGES.duplicateKey);
}

function coveredBy(deletes: readonly KeySpan[], key: Uint8Array): boolean {
  for (const span of deletes) if (spanContains(span, key)) return true;
  return false;
}

/** Static checks of one branch; returns what the branch may write. */
function checkBranch(ops: readonly RequestOp[]): Writes {
  const deletes: KeySpan[] = [];
  const puts = new Map<string, Uint8Array>();
  const children: Writes[] = [];
  for (const op of ops) {
    if ('range' in op) checkKey(op.range.key);
    else if ('deleteRange' in op) {
      checkDeleteStatic(op.deleteRange);
      deletes.push(keySpan(op.deleteRange.key, op.deleteRange.rangeEnd));
    } else if ('put' in op) {
      checkPutStatic(op.put);
      const k = bytesKey(op.put.key);
      if (puts.has(k)) throw duplicate();
      puts.set(k, op.put.key);
    } else {
      const then = checkBranch(op.txn.success);
      const otherwise = checkBranch(op.txn.failure);
      // The two branches exclude each other: their puts may overlap, their deletes never meet.
      const childPuts = new Map([...then.puts, ...otherwise.puts]);
      children.push({ puts: childPuts, deletes: [...then.deletes, ...otherwise.deletes] });
    }
  }
  for (const [k, key] of puts) {
    if (coveredBy(deletes, key)) throw duplicate();
    for (const child of children) if (child.puts.has(k) || coveredBy(child.deletes, key)) throw duplicate();
  }
  for (let i = 0; i < children.length; i++) {
    for (const key of children[i]!.puts.values()) {
      if (coveredBy(deletes, key)) throw duplicate();
      for (let j = 0; j < children.length; j++) {
        if (j === i) continue;
        if (children[j]!.puts.has(bytesKey(key)) || coveredBy(children[j]!.deletes, key)) throw duplicate();
      }
    }
  }
  const allPuts = new Map(puts);
  for (const child of children) {
    for (const [k, key] of child.puts) allPuts.set(k, key);
    deletes.push(...child.deletes);
  }
  return { puts: allPuts, deletes };
}

export function checkTxnStatic(req: TxnRequest): void {
  checkBranch(req.success);
  checkBranch(req.failure);
}

function compareNumbers(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareRow(c: Compare, row: KeyRow | undefined): boolean {
  let cmp: number;
  if (c.target === 'value') {
    assert(c.operand instanceof Uint8Array, 'value compare with a number operand');
    assert(row?.value !== undefined, 'value compare without a value');
    cmp = compareBytes(row.value, c.operand);
  } else {
    assert(typeof c.operand === 'number', 'numeric compare with a bytes operand');
    const field =
      row === undefined
        ? 0
        : c.target === 'version'
          ? row.version
          : c.target === 'create'
            ? row.create_rev
            : c.target === 'mod'
              ? row.mod_rev
              : row.lease;
    cmp = compareNumbers(field, c.operand);
  }
  switch (c.result) {
    case 'equal':
      return cmp === 0;
    case 'not_equal':
      return cmp !== 0;
    case 'greater':
      return cmp > 0;
    case 'less':
      return cmp < 0;
  }
}

/**
 * etcd's applyCompare: every key of the span must satisfy the compare; with no key, a value
 * compare fails and the others compare against zeros (version 0, create 0, mod 0, lease 0).
 */
export function compareHolds(core: KvCore, c: Compare): boolean {
  const rows = core.liveRows(keySpan(c.key, c.rangeEnd), c.target === 'value');
  if (rows.length === 0) return c.target !== 'value' && compareRow(c, undefined);
  for (const row of rows) if (!compareRow(c, row)) return false;
  return true;
}

interface TxnPlan {
  readonly succeeded: boolean;
  readonly ops: readonly RequestOp[];
  /** The plan of each nested txn op, by op index. */
  readonly nested: readonly (TxnPlan | undefined)[];
}

function planTxn(core: KvCore, req: TxnRequest): TxnPlan {
  const succeeded = req.compare.every((c) => compareHolds(core, c));
  const ops = succeeded ? req.success : req.failure;
  return { succeeded, ops, nested: ops.map((op) => ('txn' in op ? planTxn(core, op.txn) : undefined)) };
}

function checkPlan(core: KvCore, plan: TxnPlan): void {
  plan.ops.forEach((op, i) => {
    if ('put' in op) checkPutState(core, op.put, false);
    else if ('range' in op) checkReadRevision(core, op.range.revision, core.revision);
    else if ('txn' in op) checkPlan(core, plan.nested[i]!);
  });
}

function execute(core: KvCore, plan: TxnPlan): TxnResponse {
  const responses: ResponseOp[] = plan.ops.map((op, i) => {
    if ('range' in op) return { range: readRange(core, op.range) };
    if ('put' in op) return { put: doPut(core, op.put) };
    if ('deleteRange' in op) return { deleteRange: doDeleteRange(core, op.deleteRange) };
    return { txn: execute(core, plan.nested[i]!) };
  });
  return { revision: core.viewRevision(), succeeded: plan.succeeded, responses };
}

/** Apply a txn inside an open revision; throws CommandRejected before any change. */
export function applyTxn(core: KvCore, req: TxnRequest): TxnResponse {
  checkTxnStatic(req);
  const plan = planTxn(core, req);
  checkPlan(core, plan);
  return execute(core, plan);
}
