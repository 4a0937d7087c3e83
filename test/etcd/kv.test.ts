/**
 * KV semantics through a raw grpc-js client: range options (prefix, from-key, limit/more/count,
 * count_only, keys_only, sort, min/max revisions, old revisions), nested txn responses and their
 * headers, compaction. Single-node LocalBackend (test/etcd/local-backend.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { b, call, type Harness, type RawClients, rawClients, startHarness } from './helpers.js';

let h: Harness;
let c: RawClients;

test.before(async () => {
  h = await startHarness();
  c = rawClients(h.address);
});

test.after(async () => {
  c.close();
  await h.close();
});

const keys = (r: { kvs: { key: Buffer }[] }) => r.kvs.map((kv) => String(kv.key));
const put = (key: string, value: string) => call(c.kv, 'Put', { key: b(key), value: b(value) });

test('range options', async () => {
  const r1 = Number((await put('/k/a', 'z')).header.revision);
  await put('/k/b', 'y');
  await put('/k/c', 'x');
  const r4 = Number((await put('/k/a', 'w')).header.revision);
  await put('/l', 'v');
  const prefix = { key: b('/k/'), range_end: b('/k0') };
  const all = await call(c.kv, 'Range', prefix);
  assert.equal(keys(all), ['/k/a', '/k/b', '/k/c']);
  assert.equal([all.count, all.more, Number(all.header.revision)], ['3', false, h.backend.revision()]);
  const limited = await call(c.kv, 'Range', { ...prefix, limit: 2 });
  assert.equal([keys(limited), limited.count, limited.more], [['/k/a', '/k/b'], '3', true]);
  const counted = await call(c.kv, 'Range', { ...prefix, count_only: true });
  assert.equal([counted.kvs.length, counted.count], [0, '3']);
  const keysOnly = await call(c.kv, 'Range', { ...prefix, keys_only: true });
  assert.ok(keysOnly.kvs.every((kv: { value: Buffer }) => kv.value.length === 0));
  const fromKey = await call(c.kv, 'Range', { key: b('/k/b'), range_end: Buffer.from([0]) });
  assert.equal(keys(fromKey), ['/k/b', '/k/c', '/l']);
  const everything = await call(c.kv, 'Range', {
    key: Buffer.from([0]),
    range_end: Buffer.from([0]),
    count_only: true,
  });
  assert.is(everything.count, String(4));
  const byMod = await call(c.kv, 'Range', { ...prefix, sort_target: 3, sort_order: 2 });
  assert.equal(keys(byMod), ['/k/a', '/k/c', '/k/b']);
  const byValue = await call(c.kv, 'Range', { ...prefix, sort_target: 4 });
  assert.equal(keys(byValue), ['/k/a', '/k/c', '/k/b'], 'ascending by default for a non-key target');
  const recent = await call(c.kv, 'Range', { ...prefix, min_mod_revision: r4 });
  assert.equal([keys(recent), recent.count], [['/k/a'], '3']);
  const oldCreate = await call(c.kv, 'Range', { ...prefix, max_create_revision: r1 });
  assert.equal(keys(oldCreate), ['/k/a']);
  const past = await call(c.kv, 'Range', { key: b('/k/a'), revision: r1 });
  assert.equal(
    [String(past.kvs[0].value), past.kvs[0].version, Number(past.header.revision)],
    ['z', '1', h.backend.revision()],
  );
  const serializable = await call(c.kv, 'Range', { key: b('/k/a'), serializable: true });
  assert.equal([String(serializable.kvs[0].value), serializable.kvs[0].version], ['w', '2']);
});

test('txn: nested txn responses, headers at the txn revision, range sees earlier writes', async () => {
  const r = await call(c.kv, 'Txn', {
    compare: [{ key: b('/t/x'), target: 0, result: 0, version: 0 }],
    success: [
      { request_put: { key: b('/t/x'), value: b('1') } },
      { request_range: { key: b('/t/x') } },
      {
        request_txn: {
          compare: [{ key: b('/t/x'), target: 3, result: 0, value: b('1') }],
          success: [{ request_put: { key: b('/t/y'), value: b('2') } }],
          failure: [{ request_range: { key: b('/t/y') } }],
        },
      },
    ],
  });
  assert.ok(r.succeeded);
  const revision = Number(r.header.revision);
  assert.is(revision, h.backend.revision());
  const [putResp, rangeResp, txnResp] = r.responses;
  assert.is(Number(putResp.response_put.header.revision), revision);
  assert.is(String(rangeResp.response_range.kvs[0].value), '1', 'a range in a txn sees its earlier writes');
  assert.is(txnResp.response_txn.succeeded, false, 'nested compares see the state before the txn');
  assert.equal(txnResp.response_txn.responses[0].response_range.kvs, []);
  const del = await call(c.kv, 'Txn', {
    success: [{ request_delete_range: { key: b('/t/'), range_end: b('/t0'), prev_kv: true } }],
  });
  const d = del.responses[0].response_delete_range;
  assert.equal([d.deleted, d.prev_kvs.map((kv: { key: Buffer }) => String(kv.key))], ['1', ['/t/x']]);
  assert.is(Number(d.header.revision), revision + 1);
});

test('compare targets: create, mod, lease, value over a range', async () => {
  await put('/cmp/a', 'same');
  await put('/cmp/b', 'same');
  const lease = await call(c.lease, 'LeaseGrant', { TTL: 60 });
  await call(c.kv, 'Put', { key: b('/cmp/l'), value: b('x'), lease: lease.ID });
  const check = async (compare: Record<string, unknown>) =>
    (await call(c.kv, 'Txn', { compare: [compare] })).succeeded as boolean;
  assert.ok(
    await check({ key: b('/cmp/a'), range_end: b('/cmp/c'), target: 3, result: 0, value: b('same') }),
  );
  assert.not.ok(
    await check({ key: b('/cmp/a'), range_end: b('/cmp/z'), target: 3, result: 0, value: b('same') }),
  );
  assert.ok(await check({ key: b('/cmp/l'), target: 4, result: 0, lease: lease.ID }));
  assert.ok(await check({ key: b('/cmp/a'), target: 1, result: 1, create_revision: 1 }));
  assert.ok(await check({ key: b('/cmp/a'), target: 2, result: 2, mod_revision: '9223372036854775807' }));
  assert.ok(await check({ key: b('/cmp/none'), target: 1, result: 0, create_revision: 0 }));
  // A mismatched union member reads as zero, as in etcd.
  assert.ok(await check({ key: b('/cmp/none'), target: 2, result: 0, version: 5 }));
  await call(c.lease, 'LeaseRevoke', { ID: lease.ID });
});

test('compact: header at the store revision; physical accepted', async () => {
  const r = Number((await put('/compact', '1')).header.revision);
  await put('/compact', '2');
  const res = await call(c.kv, 'Compact', { revision: r, physical: true });
  assert.is(Number(res.header.revision), h.backend.revision());
  assert.is(h.backend.compactRevision(), r);
});

test.run();
