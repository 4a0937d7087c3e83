import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type {
  Compare,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
} from '../../src/datastore/state/types.js';
import { b, Harness, keys, pairs, str, ZERO } from './helpers.js';

const DUPLICATE = 'etcdserver: duplicate key given in txn request';

function rangeOf(op: ResponseOp | undefined): RangeResponse {
  assert.ok(op && 'range' in op, 'a range response');
  return (op as { range: RangeResponse }).range;
}

const modIs = (key: string, rev: number): Compare => ({
  key: b(key),
  target: 'mod',
  result: 'equal',
  operand: rev,
});

/** kube-apiserver's create: put if the key does not exist, else read it. */
function kubeCreate(key: string, value: string): TxnRequest {
  return {
    compare: [modIs(key, 0)],
    success: [{ put: { key: b(key), value: b(value) } }],
    failure: [{ range: { key: b(key) } }],
  };
}

/** kube-apiserver's update: put if unchanged since `rev`, else read the current object. */
function kubeUpdate(key: string, value: string, rev: number): TxnRequest {
  return {
    compare: [modIs(key, rev)],
    success: [{ put: { key: b(key), value: b(value) } }],
    failure: [{ range: { key: b(key) } }],
  };
}

/** kube-apiserver's delete: delete if unchanged since `rev`, else read the current object. */
function kubeDelete(key: string, rev: number): TxnRequest {
  return {
    compare: [modIs(key, rev)],
    success: [{ deleteRange: { key: b(key), prevKv: true } }],
    failure: [{ range: { key: b(key) } }],
  };
}

test('kube-apiserver create: succeeds once, then the else branch returns the current object', () => {
  const h = new Harness();
  const first = h.txn(kubeCreate('/registry/pods/default/a', 'v1'));
  assert.equal(first, { revision: 2, succeeded: true, responses: [{ put: { revision: 2 } }] });
  const again = h.txn(kubeCreate('/registry/pods/default/a', 'v2'));
  assert.is(again.succeeded, false);
  assert.is(again.revision, 2, 'a failed create costs no revision');
  const current = rangeOf(again.responses[0]);
  assert.equal(pairs(current.kvs), [['/registry/pods/default/a', 'v1']]);
  assert.is(current.kvs[0]!.modRevision, 2);
  assert.is(current.count, 1);
  assert.is(h.sm.revision(), 2);
});

test('kube-apiserver update: guarded by mod revision, stale writers get the current object', () => {
  const h = new Harness();
  h.txn(kubeCreate('/registry/cm/a', 'v1')); // 2
  h.put('/registry/cm/other', 'x'); // 3
  const ok = h.txn(kubeUpdate('/registry/cm/a', 'v2', 2));
  assert.equal(ok, { revision: 4, succeeded: true, responses: [{ put: { revision: 4 } }] });
  const stale = h.txn(kubeUpdate('/registry/cm/a', 'v3', 2));
  assert.is(stale.succeeded, false);
  const kv = rangeOf(stale.responses[0]).kvs[0]!;
  assert.equal([str(kv.value), kv.modRevision, kv.createRevision, kv.version], ['v2', 4, 2, 2]);
  assert.is(h.sm.revision(), 4);
});

test('kube-apiserver delete: guarded by mod revision', () => {
  const h = new Harness();
  h.txn(kubeCreate('/registry/pods/a', 'v1')); // 2
  const stale = h.txn(kubeDelete('/registry/pods/a', 1));
  assert.is(stale.succeeded, false);
  assert.is(rangeOf(stale.responses[0]).kvs[0]!.modRevision, 2);
  const ok = h.txn(kubeDelete('/registry/pods/a', 2));
  assert.is(ok.succeeded, true);
  assert.is(ok.revision, 3);
  const del = ok.responses[0] as { deleteRange: { revision: number; deleted: number; prevKvs: unknown[] } };
  assert.is(del.deleteRange.deleted, 1);
  assert.is(del.deleteRange.revision, 3);
  assert.equal(pairs(del.deleteRange.prevKvs as never), [['/registry/pods/a', 'v1']]);
  assert.is(h.get('/registry/pods/a'), undefined);
  // Deleting again: the key is gone, its mod revision compares as 0.
  const gone = h.txn(kubeDelete('/registry/pods/a', 2));
  assert.is(gone.succeeded, false);
  assert.equal(rangeOf(gone.responses[0]).kvs, []);
});

test('kube-apiserver compaction: version-guarded compact_rev_key, then Compact', () => {
  const h = new Harness();
  for (let i = 0; i < 5; i++) h.put('/registry/x', String(i)); // 2..6
  const compactKey = 'compact_rev_key';
  const step = (expectVersion: number, rev: number) =>
    h.txn({
      compare: [{ key: b(compactKey), target: 'version', result: 'equal', operand: expectVersion }],
      success: [{ put: { key: b(compactKey), value: b(String(rev)) } }],
      failure: [{ range: { key: b(compactKey) } }],
    });
  const first = step(0, 6);
  assert.is(first.succeeded, true);
  assert.equal(h.ok({ type: 'compact', revision: 6 }), { type: 'compact', revision: 7 });
  assert.is(h.sm.compactRevision(), 6);
  // Another apiserver with a stale view of the version loses and learns the current one.
  const loser = step(0, 7);
  assert.is(loser.succeeded, false);
  assert.is(rangeOf(loser.responses[0]).kvs[0]!.version, 1);
  assert.is(step(1, 7).succeeded, true);
  assert.equal(h.ok({ type: 'compact', revision: 7 }), { type: 'compact', revision: 8 });
});

test('multiple compares must all hold; range compares hold for every key', () => {
  const h = new Harness();
  h.put('a/1', 'x'); // 2
  h.put('a/2', 'x'); // 3
  h.put('b', 'y'); // 4
  const run = (compare: Compare[]) =>
    h.txn({ compare, success: [{ range: { key: b('b') } }], failure: [] }).succeeded;
  const allA = { key: b('a/'), rangeEnd: b('a0') };
  assert.ok(run([{ ...allA, target: 'value', result: 'equal', operand: b('x') }]));
  assert.ok(run([{ ...allA, target: 'mod', result: 'greater', operand: 1 }]));
  assert.not.ok(run([{ ...allA, target: 'mod', result: 'greater', operand: 2 }]), 'a/1 has mod 2');
  assert.ok(run([{ ...allA, target: 'create', result: 'less', operand: 4 }]));
  assert.ok(
    run([
      { ...allA, target: 'version', result: 'equal', operand: 1 },
      { key: b('b'), target: 'value', result: 'equal', operand: b('y') },
    ]),
  );
  assert.not.ok(
    run([
      { ...allA, target: 'version', result: 'equal', operand: 1 },
      { key: b('b'), target: 'value', result: 'equal', operand: b('z') },
    ]),
  );
  assert.ok(run([{ key: b('a'), rangeEnd: ZERO, target: 'lease', result: 'equal', operand: 0 }]));
  assert.ok(run([{ key: b('b'), target: 'value', result: 'greater', operand: b('x') }]));
  assert.ok(run([{ key: b('b'), target: 'value', result: 'less', operand: b('yy') }]));
  assert.ok(run([{ key: b('b'), target: 'value', result: 'not_equal', operand: b('') }]));
  assert.ok(run([]), 'no compare holds');
  assert.is(h.sm.revision(), 4, 'read-only txns cost no revision');
});

test('compares on a missing key: zeros for numbers, a value compare always fails', () => {
  const h = new Harness();
  h.put('other', 'v');
  const run = (c: Omit<Compare, 'key'>, key = 'missing') =>
    h.txn({ compare: [{ key: b(key), ...c }], success: [], failure: [] }).succeeded;
  assert.ok(run({ target: 'version', result: 'equal', operand: 0 }));
  assert.ok(run({ target: 'create', result: 'equal', operand: 0 }));
  assert.ok(run({ target: 'mod', result: 'less', operand: 1 }));
  assert.ok(run({ target: 'lease', result: 'equal', operand: 0 }));
  assert.not.ok(run({ target: 'value', result: 'equal', operand: b('') }));
  assert.not.ok(run({ target: 'value', result: 'not_equal', operand: b('x') }));
  const emptyRange = { target: 'version' as const, result: 'equal' as const, operand: 0 };
  assert.ok(
    h.txn({ compare: [{ key: b('x'), rangeEnd: b('y'), ...emptyRange }], success: [], failure: [] })
      .succeeded,
  );
});

test('a txn is one revision; ops run in order and later reads see earlier writes', () => {
  const h = new Harness();
  h.put('a', '0'); // 2
  h.put('d', '0'); // 3
  const events = h.record();
  const r = h.txn({
    compare: [],
    success: [
      { put: { key: b('a'), value: b('1'), prevKv: true } },
      { range: { key: b('a') } },
      { put: { key: b('b'), value: b('1') } },
      { deleteRange: { key: b('d'), prevKv: true } },
      { range: { key: ZERO, rangeEnd: ZERO } },
      { range: { key: ZERO, rangeEnd: ZERO, revision: 3 } },
    ],
    failure: [],
  });
  assert.is(r.succeeded, true);
  assert.is(r.revision, 4);
  assert.is(h.sm.revision(), 4);
  const [put1, range1, put2, del, rangeAll, rangeOld] = r.responses;
  assert.equal(put1, {
    put: {
      revision: 4,
      prevKv: { key: b('a'), value: b('0'), createRevision: 2, modRevision: 2, version: 1, lease: 0 },
    },
  });
  assert.equal(pairs(rangeOf(range1).kvs), [['a', '1']]);
  assert.is(rangeOf(range1).kvs[0]!.modRevision, 4);
  assert.is(rangeOf(range1).revision, 4);
  assert.equal(put2, { put: { revision: 4 } });
  assert.equal((del as { deleteRange: { deleted: number } }).deleteRange.deleted, 1);
  assert.equal(pairs(rangeOf(rangeAll).kvs), [
    ['a', '1'],
    ['b', '1'],
  ]);
  assert.equal(
    pairs(rangeOf(rangeOld).kvs),
    [
      ['a', '0'],
      ['d', '0'],
    ],
    'a read at an older revision inside the txn sees the state before it',
  );
  assert.is(events.length, 1, 'one revision, one callback');
  assert.equal(
    events[0]!.events.map((e) => [e.type, str(e.kv.key)]),
    [
      ['put', 'a'],
      ['put', 'b'],
      ['delete', 'd'],
    ],
  );
});

test('nested txns: their compares see the state before the outer txn (etcd)', () => {
  const h = new Harness();
  h.put('k', '1'); // 2
  const nested: TxnRequest = {
    compare: [{ key: b('k'), target: 'value', result: 'equal', operand: b('2') }],
    success: [{ put: { key: b('then'), value: b('x') } }],
    failure: [{ put: { key: b('else'), value: b('x') } }, { range: { key: b('k') } }],
  };
  const r = h.txn({
    compare: [{ key: b('k'), target: 'version', result: 'equal', operand: 1 }],
    success: [{ put: { key: b('k'), value: b('2') } }, { txn: nested }],
    failure: [],
  });
  assert.is(r.succeeded, true);
  const inner = (r.responses[1] as { txn: { succeeded: boolean; revision: number; responses: ResponseOp[] } })
    .txn;
  assert.is(inner.succeeded, false, 'k was 1 before the txn');
  assert.equal(inner.responses[0], { put: { revision: 3 } });
  assert.equal(pairs(rangeOf(inner.responses[1]).kvs), [['k', '2']], 'ops still see earlier writes');
  assert.is(inner.revision, 3);
  assert.equal(keys(h.sm.range({ key: ZERO, rangeEnd: ZERO }).kvs), ['else', 'k']);
  assert.is(h.sm.revision(), 3);
});

test('duplicate keys are rejected deterministically, nothing applied', () => {
  const h = new Harness();
  h.put('a', '0'); // 2
  const reject = (success: RequestOp[], failure: RequestOp[] = []) => {
    const e = h.fail({ type: 'txn', request: { compare: [], success, failure } });
    assert.equal(e, { code: 'MK_INVALID_ARGUMENT', message: DUPLICATE });
  };
  const put = (k: string): RequestOp => ({ put: { key: b(k), value: b('v') } });
  const del = (k: string, end?: string): RequestOp => ({
    deleteRange: { key: b(k), ...(end ? { rangeEnd: b(end) } : {}) },
  });
  const txn = (success: RequestOp[], failure: RequestOp[] = []): RequestOp => ({
    txn: { compare: [], success, failure },
  });
  reject([put('x'), put('x')]);
  reject([put('a'), del('a')]);
  reject([del('a'), put('a')]);
  reject([del('0', '~'), put('b')]);
  reject([{ deleteRange: { key: b('a'), rangeEnd: ZERO } }, put('zzz')]);
  reject([put('x'), txn([put('x')])]);
  reject([del('x'), txn([], [put('x')])]);
  reject([txn([put('x')]), txn([put('x')])]);
  reject([txn([put('x')]), txn([del('x')])]);
  reject([put('ok')], [put('x'), put('x')]);
  reject([txn([put('x'), put('x')])]);
  assert.is(h.sm.revision(), 2);
  assert.equal(keys(h.sm.range({ key: ZERO, rangeEnd: ZERO }).kvs), ['a']);
  // Allowed: overlapping deletes, the two branches of one nested txn, distinct keys.
  const ok = h.txn({
    compare: [],
    success: [del('a'), del('a', 'b'), txn([put('x')], [put('x')]), put('y')],
    failure: [],
  });
  assert.is(ok.succeeded, true);
  assert.is(h.sm.revision(), 3);
  assert.equal(keys(h.sm.range({ key: ZERO, rangeEnd: ZERO }).kvs), ['x', 'y']);
});

test('txn state checks reject the whole txn: missing lease, ignore flags, read revisions', () => {
  const h = new Harness();
  h.put('a', '0'); // 2
  const attempt = (success: RequestOp[]) =>
    h.fail({ type: 'txn', request: { compare: [], success, failure: [] } });
  assert.equal(
    attempt([{ put: { key: b('b'), value: b('1') } }, { put: { key: b('c'), value: b('1'), lease: 99 } }]),
    {
      code: 'MK_LEASE_NOT_FOUND',
      message: 'etcdserver: requested lease not found',
    },
  );
  assert.equal(
    attempt([
      { put: { key: b('b'), value: b('1') } },
      { put: { key: b('zz'), value: b(''), ignoreValue: true } },
    ]),
    {
      code: 'MK_INVALID_ARGUMENT',
      message: 'etcdserver: key not found',
    },
  );
  assert.equal(attempt([{ put: { key: b('b'), value: b('1') } }, { range: { key: b('a'), revision: 3 } }]), {
    code: 'MK_FUTURE_REVISION',
    message: 'etcdserver: mvcc: required revision is a future revision',
  });
  assert.equal(attempt([{ put: { key: b(''), value: b('1') } }]), {
    code: 'MK_INVALID_ARGUMENT',
    message: 'etcdserver: key is not provided',
  });
  // Static checks cover the branch that is not taken too.
  assert.equal(
    h.fail({
      type: 'txn',
      request: { compare: [], success: [], failure: [{ range: { key: new Uint8Array(0) } }] },
    }),
    { code: 'MK_INVALID_ARGUMENT', message: 'etcdserver: key is not provided' },
  );
  assert.is(h.sm.revision(), 2);
  assert.is(h.get('b'), undefined);
});

test('put flags: ignoreValue, ignoreLease, lease checks', () => {
  const h = new Harness();
  assert.equal(h.fail({ type: 'put', request: { key: b('a'), value: b(''), ignoreValue: true } }), {
    code: 'MK_INVALID_ARGUMENT',
    message: 'etcdserver: key not found',
  });
  assert.equal(h.fail({ type: 'put', request: { key: b('a'), value: b('x'), lease: 5 } }), {
    code: 'MK_LEASE_NOT_FOUND',
    message: 'etcdserver: requested lease not found',
  });
  assert.equal(h.fail({ type: 'put', request: { key: b('a'), value: b('x'), ignoreValue: true } }), {
    code: 'MK_INVALID_ARGUMENT',
    message: 'etcdserver: value is provided',
  });
  assert.equal(h.fail({ type: 'put', request: { key: b('a'), value: b(''), lease: 5, ignoreLease: true } }), {
    code: 'MK_INVALID_ARGUMENT',
    message: 'etcdserver: lease is provided',
  });
  h.ok({ type: 'leaseGrant', id: 5, ttl: 10 });
  h.put('a', 'v1', { lease: 5 }); // 2
  h.ok({ type: 'put', request: { key: b('a'), value: b('v2'), ignoreLease: true } }); // 3
  assert.equal(h.get('a'), {
    key: b('a'),
    value: b('v2'),
    createRevision: 2,
    modRevision: 3,
    version: 2,
    lease: 5,
  });
  h.ok({ type: 'put', request: { key: b('a'), value: b(''), ignoreValue: true } }); // 4: lease dropped, value kept
  assert.equal(h.get('a'), {
    key: b('a'),
    value: b('v2'),
    createRevision: 2,
    modRevision: 4,
    version: 3,
    lease: 0,
  });
  assert.equal(h.sm.lease(5)?.keys, []);
  assert.is(h.sm.revision(), 4);
});

test.run();
