/**
 * The etcd API against the real npm `etcd3` client, over loopback TCP, on the single-node
 * LocalBackend (test/etcd/local-backend.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3, type IKeyValue, type Watcher } from 'etcd3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { b, eventually, type Harness, startHarness } from './helpers.js';

let h: Harness;
let client: Etcd3;

test.before(async () => {
  h = await startHarness({ limits: { minLeaseTtlSeconds: 1 } });
  client = new Etcd3({ hosts: `http://${h.address}`, dialTimeout: 5000 });
});

test.after(async () => {
  client.close();
  await h.close();
});

const str = (v: Buffer | Uint8Array | null | undefined) => (v ? Buffer.from(v).toString() : v);

test('put, get, delete, prefix get with limit, count', async () => {
  await client.put('/app/a').value('1');
  await client.put('/app/b').value('2');
  await client.put('/app/c').value('3');
  await client.put('/other').value('x');
  assert.is(await client.get('/app/b').string(), '2');
  assert.is(await client.get('/missing').string(), null);
  const res = await client.getAll().prefix('/app/').limit(2).exec();
  assert.equal(
    res.kvs.map((kv) => str(kv.key)),
    ['/app/a', '/app/b'],
  );
  assert.ok(res.more);
  assert.is(res.count, '3');
  assert.is(await client.getAll().prefix('/app/').count(), 3);
  assert.is(await client.getAll().count(), 4);
  assert.equal(await client.getAll().prefix('/app/').sort('Key', 'Descend').keys(), [
    '/app/c',
    '/app/b',
    '/app/a',
  ]);
  const del = await client.delete().key('/app/b').exec();
  assert.is(del.deleted, '1');
  assert.equal(await client.getAll().prefix('/app/').keys(), ['/app/a', '/app/c']);
  const prev = await client.delete().prefix('/app/').getPrevious();
  assert.equal(
    prev.map((kv) => str(kv.key)),
    ['/app/a', '/app/c'],
  );
  // Headers carry the cluster and member ids and the revision.
  const got = await client.get('/other').exec();
  assert.is(got.header.cluster_id, h.backend.header().clusterId.toString());
  assert.is(got.header.member_id, h.backend.header().memberId.toString());
  assert.is(Number(got.header.revision), h.backend.revision());
  assert.is(got.header.raft_term, '2');
});

test('put with prev_kv, ignore_value, revision reads', async () => {
  const first = await client.put('/pv').value('one').exec();
  const second = await client.kv.put({ key: b('/pv'), value: b('two'), prev_kv: true });
  assert.is(str(second.prev_kv?.value), 'one');
  await client.kv.put({ key: b('/pv'), ignore_value: true });
  assert.is(await client.get('/pv').string(), 'two');
  assert.is(await client.get('/pv').revision(first.header.revision).string(), 'one');
});

test('txn through client.if().then().else()', async () => {
  await client.put('/txn/k').value('v1');
  const ok = await client
    .if('/txn/k', 'Value', '==', 'v1')
    .then(client.put('/txn/k').value('v2'))
    .else(client.get('/txn/k'))
    .commit();
  assert.ok(ok.succeeded);
  assert.is(await client.get('/txn/k').string(), 'v2');
  const no = await client
    .if('/txn/k', 'Value', '==', 'v1')
    .then(client.put('/txn/k').value('v3'))
    .else(client.get('/txn/k'))
    .commit();
  assert.not.ok(no.succeeded);
  assert.is(str(no.responses[0]!.response_range!.kvs[0]!.value), 'v2');
  const version = await client.if('/txn/k', 'Version', '>', 1).then(client.delete().key('/txn/k')).commit();
  assert.ok(version.succeeded);
  assert.is(await client.get('/txn/k').string(), null);
});

test('the four kube-apiserver txn shapes', async () => {
  const key = b('/registry/pods/default/web');
  // 1. Create: If(mod_revision == 0) Then(Put).
  const created = await client.kv.txn({
    compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: 0 }],
    success: [{ request_put: { key, value: b('{"v":1}') } }],
    failure: [],
  });
  assert.ok(created.succeeded);
  const createRev = created.responses[0]!.response_put!.header.revision;
  assert.is(createRev, created.header.revision);
  const again = await client.kv.txn({
    compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: 0 }],
    success: [{ request_put: { key, value: b('{"v":1}') } }],
    failure: [],
  });
  assert.not.ok(again.succeeded, 'already exists');
  // 2. GuaranteedUpdate: If(mod_revision == rev) Then(Put) Else(Get).
  const update = (rev: string, value: string) =>
    client.kv.txn({
      compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: rev }],
      success: [{ request_put: { key, value: b(value) } }],
      failure: [{ request_range: { key } }],
    });
  const updated = await update(createRev, '{"v":2}');
  assert.ok(updated.succeeded);
  const updateRev = updated.responses[0]!.response_put!.header.revision;
  assert.is(Number(updateRev), Number(createRev) + 1);
  const conflict = await update(createRev, '{"v":3}');
  assert.not.ok(conflict.succeeded);
  const current = conflict.responses[0]!.response_range!.kvs[0]!;
  assert.is(str(current.value), '{"v":2}');
  assert.is(current.mod_revision, updateRev);
  // 3. Delete: If(mod_revision == rev) Then(Delete) Else(Get).
  const del = (rev: string) =>
    client.kv.txn({
      compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: rev }],
      success: [{ request_delete_range: { key, prev_kv: true } }],
      failure: [{ request_range: { key } }],
    });
  const stale = await del(createRev);
  assert.not.ok(stale.succeeded);
  assert.is(stale.responses[0]!.response_range!.kvs[0]!.mod_revision, updateRev);
  const deleted = await del(updateRev);
  assert.ok(deleted.succeeded);
  assert.is(deleted.responses[0]!.response_delete_range!.deleted, '1');
  assert.is(str(deleted.responses[0]!.response_delete_range!.prev_kvs[0]!.value), '{"v":2}');
  // 4. The compactor's key: If(version == t) Then(Put) Else(Get).
  const compactKey = b('compact_rev_key');
  const compactTxn = (t: number, rev: number) =>
    client.kv.txn({
      compare: [{ key: compactKey, target: 'Version', result: 'Equal', version: t }],
      success: [{ request_put: { key: compactKey, value: b(String(rev)) } }],
      failure: [{ request_range: { key: compactKey } }],
    });
  const c1 = await compactTxn(0, 5);
  assert.ok(c1.succeeded);
  const c2 = await compactTxn(0, 6);
  assert.not.ok(c2.succeeded);
  assert.is(c2.responses[0]!.response_range!.kvs[0]!.version, '1');
  assert.ok((await compactTxn(1, 6)).succeeded);
});

test('txn errors: duplicate keys, too many operations', async () => {
  try {
    await client.kv.txn({
      compare: [],
      success: [
        { request_put: { key: b('d'), value: b('1') } },
        { request_put: { key: b('d'), value: b('2') } },
      ],
      failure: [],
    });
    assert.unreachable('duplicate');
  } catch (error) {
    assert.match((error as Error).message, 'etcdserver: duplicate key given in txn request');
  }
  try {
    await client.kv.txn({
      compare: [],
      success: Array.from({ length: 129 }, (_, i) => ({ request_put: { key: b(`k${i}`), value: b('v') } })),
      failure: [],
    });
    assert.unreachable('too many');
  } catch (error) {
    assert.match((error as Error).message, 'etcdserver: too many operations in txn request');
  }
});

test('leases: grant with ttl, attach, keepalive, time to live with keys, revoke deletes keys', async () => {
  const lease = client.lease(30, { autoKeepAlive: false });
  const id = await lease.grant();
  await lease.put('/lease/a').value('x');
  await client.put('/lease/b').value('y').lease(id);
  const kept = await lease.keepaliveOnce();
  assert.is(kept.TTL, '30');
  const ttl = await client.leaseClient.leaseTimeToLive({ ID: id, keys: true });
  assert.is(ttl.grantedTTL, '30');
  assert.ok(Number(ttl.TTL) > 0 && Number(ttl.TTL) <= 30);
  assert.equal(ttl.keys.map((k) => str(k)).sort(), ['/lease/a', '/lease/b']);
  const listed = await client.leaseClient.leaseLeases({});
  assert.ok(listed.leases.some((l) => l.ID === id));
  await lease.revoke();
  assert.is(await client.get('/lease/a').string(), null);
  assert.is(await client.get('/lease/b').string(), null);
  const gone = await client.leaseClient.leaseTimeToLive({ ID: id, keys: true });
  assert.is(gone.TTL, '-1');
  try {
    await client.leaseClient.leaseRevoke({ ID: id });
    assert.unreachable('revoked twice');
  } catch (error) {
    assert.is((error as Error).constructor.name, 'EtcdLeaseInvalidError');
  }
  try {
    await client.put('/lease/c').value('z').lease(id);
    assert.unreachable('put with a revoked lease');
  } catch (error) {
    assert.match((error as Error).message, 'etcdserver: requested lease not found');
  }
});

test('leases: the client keep-alive stream keeps a short lease; expiry deletes keys', async () => {
  const kept = client.lease(1);
  const keptId = await kept.grant();
  await kept.put('/exp/kept').value('1');
  let renewals = 0;
  kept.on('keepaliveSucceeded', () => renewals++);
  const granted = await client.leaseClient.leaseGrant({ TTL: 1 });
  assert.is(granted.TTL, '1');
  await client.put('/exp/dies').value('1').lease(granted.ID);
  await eventually(async () => (await client.get('/exp/dies').string()) === null, 6000, 'expiry');
  assert.is(await client.get('/exp/kept').string(), '1', 'kept alive');
  assert.ok(renewals > 0, 'the stream renewed');
  const ttl = await client.leaseClient.leaseTimeToLive({ ID: keptId });
  assert.ok(Number(ttl.TTL) >= 0);
  await kept.revoke();
  // An unknown lease on the keep-alive stream answers TTL 0: the client reports it lost.
  const ghost = client.lease(5, { autoKeepAlive: false });
  await ghost.grant();
  await client.leaseClient.leaseRevoke({ ID: await ghost.grant() });
  const res = await ghost.keepaliveOnce().catch((e: Error) => e);
  assert.ok(res instanceof Error, 'lost lease');
});

function collect(watcher: Watcher): { events: { type: string; kv: IKeyValue; prev?: IKeyValue }[] } {
  const out: { events: { type: string; kv: IKeyValue; prev?: IKeyValue }[] } = { events: [] };
  watcher.on('put', (kv, prev) => out.events.push({ type: 'put', kv, prev }));
  watcher.on('delete', (kv, prev) => out.events.push({ type: 'delete', kv, prev }));
  return out;
}

test('watch: live events with prev_kv, filters', async () => {
  await client.put('/w/a').value('0');
  const watcher = await client.watch().prefix('/w/').withPreviousKV().create();
  const seen = collect(watcher);
  const putsOnly = await client.watch().prefix('/w/').only('put').create();
  const puts = collect(putsOnly);
  await client.put('/w/a').value('1');
  await client.put('/w/b').value('2');
  await client.delete().key('/w/a');
  await eventually(() => seen.events.length === 3, 5000, 'three events');
  assert.equal(
    seen.events.map((e) => [e.type, str(e.kv.key), str(e.kv.value), str(e.prev?.value)]),
    [
      ['put', '/w/a', '1', '0'],
      ['put', '/w/b', '2', undefined],
      ['delete', '/w/a', '', '1'],
    ],
  );
  await eventually(() => puts.events.length === 2, 5000, 'two puts');
  assert.equal(
    puts.events.map((e) => e.type),
    ['put', 'put'],
  );
  await watcher.cancel();
  await putsOnly.cancel();
});

test('watch: start revision replays history then continues live without gap or duplicate', async () => {
  const start = (await client.put('/r/k').value('0').exec()).header.revision;
  for (let i = 1; i < 20; i++) await client.put('/r/k').value(String(i));
  const watcher = await client.watch().key('/r/k').startRevision(start).create();
  const seen = collect(watcher);
  // Writes race the replay.
  for (let i = 20; i < 40; i++) await client.put('/r/k').value(String(i));
  await eventually(() => seen.events.length >= 40, 5000, '40 events');
  await sleep(100);
  assert.equal(
    seen.events.map((e) => str(e.kv.value)),
    Array.from({ length: 40 }, (_, i) => String(i)),
  );
  const revs = seen.events.map((e) => Number(e.kv.mod_revision));
  for (let i = 1; i < revs.length; i++) assert.is(revs[i], revs[i - 1]! + 1);
  await watcher.cancel();
});

test('compaction: ErrCompacted and ErrFutureRev messages; a watch from a compacted revision is canceled', async () => {
  const r1 = (await client.put('/c/k').value('1').exec()).header.revision;
  const r2 = (await client.put('/c/k').value('2').exec()).header.revision;
  await client.put('/c/k').value('3');
  await client.kv.compact({ revision: r2, physical: true });
  try {
    await client.get('/c/k').revision(r1).string();
    assert.unreachable('compacted');
  } catch (error) {
    assert.match((error as Error).message, 'etcdserver: mvcc: required revision has been compacted');
  }
  assert.is(await client.get('/c/k').revision(r2).string(), '2', 'the compact revision itself is readable');
  try {
    await client
      .get('/c/k')
      .revision(Number(r2) + 1000)
      .string();
    assert.unreachable('future');
  } catch (error) {
    assert.match((error as Error).message, 'etcdserver: mvcc: required revision is a future revision');
  }
  try {
    await client.kv.compact({ revision: r1 });
    assert.unreachable('compact again');
  } catch (error) {
    assert.match((error as Error).message, 'etcdserver: mvcc: required revision has been compacted');
  }
  const watcher = client.watch().key('/c/k').startRevision(r1).watcher();
  const failed = new Promise<Error>((resolve) => watcher.on('error', resolve));
  const err = await failed;
  assert.match(err.message, 'Watcher canceled');
  assert.match(err.message, 'compacted');
});

test.run();
