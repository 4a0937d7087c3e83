/**
 * Bad and hostile requests over a raw grpc-js client: each gets etcd's status code and message,
 * none reaches the Raft log when the API layer can tell, and the server stays healthy.
 * Single-node LocalBackend (test/etcd/local-backend.ts).
 */
import http2 from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  b,
  call,
  eventually,
  expectError,
  type Harness,
  type RawClients,
  rawClients,
  startHarness,
} from './helpers.js';

/** Leaderless checks after which require-leader streams end (the server's limit, set low here). */
const LEADERLESS_CHECKS = 3;

let h: Harness;
let c: RawClients;

test.before(async () => {
  h = await startHarness({ limits: { leaderCheckIntervalMs: 50, leaderlessChecks: LEADERLESS_CHECKS } });
  c = rawClients(h.address);
});

test.after(async () => {
  c.close();
  await h.close();
});

const INVALID = grpc.status.INVALID_ARGUMENT;

test('range: empty key, unknown sort target and order, future revision', async () => {
  const before = h.backend.executed;
  await expectError(
    call(c.kv, 'Range', { key: Buffer.alloc(0) }),
    INVALID,
    'etcdserver: key is not provided',
  );
  await expectError(
    call(c.kv, 'Range', { key: b('k'), sort_target: 9 }),
    INVALID,
    'etcdserver: invalid sort option',
  );
  await expectError(
    call(c.kv, 'Range', { key: b('k'), sort_order: 7 }),
    INVALID,
    'etcdserver: invalid sort option',
  );
  await expectError(
    call(c.kv, 'Range', { key: b('k'), revision: '9223372036854775807' }),
    grpc.status.OUT_OF_RANGE,
    'etcdserver: mvcc: required revision is a future revision',
  );
  assert.is(h.backend.executed, before, 'reads never reach the log');
});

test('put: empty key, value/lease provided with ignore flags, missing key, unknown lease', async () => {
  const before = h.backend.executed;
  await expectError(
    call(c.kv, 'Put', { key: Buffer.alloc(0), value: b('v') }),
    INVALID,
    'etcdserver: key is not provided',
  );
  await expectError(
    call(c.kv, 'Put', { key: b('k'), value: b('v'), ignore_value: true }),
    INVALID,
    'etcdserver: value is provided',
  );
  await expectError(
    call(c.kv, 'Put', { key: b('k'), lease: 5, ignore_lease: true }),
    INVALID,
    'etcdserver: lease is provided',
  );
  await expectError(
    call(c.kv, 'Put', { key: b('k'), lease: -5 }),
    grpc.status.NOT_FOUND,
    'etcdserver: requested lease not found',
  );
  assert.is(h.backend.executed, before, 'refused before the log');
  await expectError(
    call(c.kv, 'Put', { key: b('nope'), ignore_value: true }),
    INVALID,
    'etcdserver: key not found',
  );
  await expectError(
    call(c.kv, 'Put', { key: b('k'), value: b('v'), lease: 12345 }),
    grpc.status.NOT_FOUND,
    'etcdserver: requested lease not found',
  );
  await expectError(
    call(c.kv, 'DeleteRange', { key: Buffer.alloc(0) }),
    INVALID,
    'etcdserver: key is not provided',
  );
});

test('requests beyond the size limits: "request is too large", then gRPC RESOURCE_EXHAUSTED', async () => {
  const before = h.backend.executed;
  const big = Buffer.alloc(1.6 * 1024 * 1024, 1);
  await expectError(
    call(c.kv, 'Put', { key: b('big'), value: big }),
    INVALID,
    'etcdserver: request is too large',
  );
  await expectError(
    call(c.kv, 'Txn', {
      success: [
        { request_put: { key: b('a'), value: big.subarray(0, 900_000) } },
        { request_put: { key: b('b'), value: big.subarray(0, 900_000) } },
      ],
    }),
    INVALID,
    'etcdserver: request is too large',
  );
  const huge = Buffer.alloc(3 * 1024 * 1024, 2);
  try {
    await call(c.kv, 'Put', { key: b('huge'), value: huge });
    assert.unreachable('huge');
  } catch (error) {
    assert.is((error as grpc.ServiceError).code, grpc.status.RESOURCE_EXHAUSTED);
  }
  assert.is(h.backend.executed, before);
  // Just under the limit is fine.
  await call(c.kv, 'Put', { key: b('fits'), value: Buffer.alloc(1.4 * 1024 * 1024, 3) });
});

test('txn: duplicate keys, too many ops, empty op, unknown compare enums, missing lease on the taken branch only', async () => {
  const before = h.backend.executed;
  const put = (key: string) => ({ request_put: { key: b(key), value: b('v') } });
  await expectError(
    call(c.kv, 'Txn', { success: [put('d'), put('d')] }),
    INVALID,
    'etcdserver: duplicate key given in txn request',
  );
  await expectError(
    call(c.kv, 'Txn', { success: [put('a'), { request_delete_range: { key: b('a'), range_end: b('b') } }] }),
    INVALID,
    'etcdserver: duplicate key given in txn request',
  );
  await expectError(
    call(c.kv, 'Txn', { success: Array.from({ length: 129 }, (_, i) => put(`k${i}`)) }),
    INVALID,
    'etcdserver: too many operations in txn request',
  );
  await expectError(
    call(c.kv, 'Txn', { compare: [{ key: Buffer.alloc(0), target: 0 }] }),
    INVALID,
    'etcdserver: key is not provided',
  );
  await expectError(call(c.kv, 'Txn', { success: [{}] }), INVALID, 'etcdserver: empty request op in txn');
  await expectError(
    call(c.kv, 'Txn', { compare: [{ key: b('k'), target: 17 }] }),
    INVALID,
    'etcdserver: unknown compare target 17',
  );
  await expectError(
    call(c.kv, 'Txn', { compare: [{ key: b('k'), result: 9 }] }),
    INVALID,
    'etcdserver: unknown compare result 9',
  );
  await expectError(
    call(c.kv, 'Txn', { success: [{ request_range: { key: b('k'), sort_target: 8 } }] }),
    INVALID,
    'etcdserver: invalid sort option',
  );
  assert.is(h.backend.executed, before, 'none reached the log');
  // A put with a lease that cannot exist, on the branch not taken: fine, as in etcd.
  const r = await call(c.kv, 'Txn', {
    compare: [{ key: b('absent'), target: 0, result: 1, version: 0 }],
    success: [{ request_put: { key: b('x'), value: b('v'), lease: -1 } }],
    failure: [put('taken')],
  });
  assert.is(r.succeeded, false);
  await expectError(
    call(c.kv, 'Txn', { success: [{ request_put: { key: b('x'), value: b('v'), lease: -1 } }] }),
    grpc.status.NOT_FOUND,
    'etcdserver: requested lease not found',
  );
});

test('compact and lease errors', async () => {
  const rev = h.backend.revision();
  await expectError(
    call(c.kv, 'Compact', { revision: rev + 10 }),
    grpc.status.OUT_OF_RANGE,
    'etcdserver: mvcc: required revision is a future revision',
  );
  await expectError(
    call(c.kv, 'Compact', { revision: -3 }),
    grpc.status.OUT_OF_RANGE,
    'etcdserver: mvcc: required revision has been compacted',
  );
  await expectError(
    call(c.lease, 'LeaseGrant', { TTL: '9000000001' }),
    grpc.status.OUT_OF_RANGE,
    'etcdserver: too large lease TTL',
  );
  const granted = await call(c.lease, 'LeaseGrant', { TTL: 60, ID: 424242 });
  assert.is(granted.ID, '424242');
  await expectError(
    call(c.lease, 'LeaseGrant', { TTL: 60, ID: 424242 }),
    grpc.status.FAILED_PRECONDITION,
    'etcdserver: lease already exists',
  );
  await expectError(
    call(c.lease, 'LeaseRevoke', { ID: 777 }),
    grpc.status.NOT_FOUND,
    'etcdserver: requested lease not found',
  );
  await expectError(
    call(c.lease, 'LeaseRevoke', { ID: 0 }),
    grpc.status.NOT_FOUND,
    'etcdserver: requested lease not found',
  );
  const ttl = await call(c.lease, 'LeaseTimeToLive', { ID: '-8' });
  assert.is(ttl.TTL, '-1');
  const short = await call(c.lease, 'LeaseGrant', { TTL: 0 });
  assert.is(short.TTL, '2', 'raised to the minimum TTL');
  await call(c.lease, 'LeaseRevoke', { ID: short.ID });
  await call(c.lease, 'LeaseRevoke', { ID: 424242 });
});

test('keep-alive stream: unknown leases answer TTL 0, the stream carries on', async () => {
  const granted = await call(c.lease, 'LeaseGrant', { TTL: 30 });
  const stream = c.lease.LeaseKeepAlive();
  const answers: { ID: string; TTL: string }[] = [];
  stream.on('data', (r: { ID: string; TTL: string }) => answers.push(r));
  stream.on('error', () => {});
  for (const ID of [granted.ID, '99999', '-1', '0', granted.ID]) stream.write({ ID });
  stream.end();
  await new Promise((resolve) => stream.on('end', resolve));
  assert.equal(
    answers.map((a) => [a.ID, a.TTL]),
    [
      [granted.ID, '30'],
      ['99999', '0'],
      ['-1', '0'],
      ['0', '0'],
      [granted.ID, '30'],
    ],
  );
  await call(c.lease, 'LeaseRevoke', { ID: granted.ID });
});

test('malformed protobuf, unknown methods: clean errors, no crash', async () => {
  const session = http2.connect(`http://${h.address}`);
  session.on('error', () => {});
  const raw = (path: string, body: Buffer) =>
    new Promise<string>((resolve) => {
      const req = session.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      let statusCode = 'none';
      req.on('response', (headers) => {
        if (headers['grpc-status'] !== undefined) statusCode = String(headers['grpc-status']);
      });
      req.on('trailers', (t) => {
        statusCode = String(t['grpc-status']);
      });
      req.on('error', () => {});
      req.on('close', () => resolve(statusCode));
      req.resume();
      req.end(body);
    });
  try {
    const garbage = Buffer.from([0, 0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert.is(await raw('/etcdserverpb.KV/Range', garbage), String(grpc.status.INTERNAL));
    assert.is(
      await raw('/etcdserverpb.KV/Put', Buffer.from([0, 0, 0, 0, 3, 0x0a, 0x09, 0x01])),
      String(grpc.status.INTERNAL),
    );
    assert.is(
      await raw('/etcdserverpb.Maintenance/MoveLeader', Buffer.from([0, 0, 0, 0, 0])),
      String(grpc.status.UNIMPLEMENTED),
    );
    assert.is(
      await raw('/etcdserverpb.Auth/Authenticate', Buffer.from([0, 0, 0, 0, 0])),
      String(grpc.status.UNIMPLEMENTED),
    );
    // A watch stream fed garbage ends with an error; the server carries on.
    const w = await raw('/etcdserverpb.Watch/Watch', garbage);
    assert.is.not(w, '0');
  } finally {
    session.close();
  }
});

test('require-leader metadata and linearizable reads without a leader: "etcdserver: no leader"', async () => {
  h.backend.leaderless = true;
  try {
    const md = new grpc.Metadata();
    md.set('hasleader', 'true');
    await expectError(
      new Promise((resolve, reject) =>
        c.kv.Range({ key: b('k'), serializable: true }, md, (e: grpc.ServiceError | null, r: unknown) =>
          e ? reject(e) : resolve(r),
        ),
      ),
      grpc.status.UNAVAILABLE,
      'etcdserver: no leader',
    );
    await expectError(call(c.kv, 'Range', { key: b('k') }), grpc.status.UNAVAILABLE, 'etcdserver: no leader');
    await expectError(
      call(c.kv, 'Put', { key: b('k'), value: b('v') }),
      grpc.status.UNAVAILABLE,
      'etcdserver: no leader',
    );
    // A serializable read is local and still answers.
    const local = await call(c.kv, 'Range', { key: b('fits'), serializable: true });
    assert.is(local.count, '1');
    const watch = c.watch.Watch(md);
    const failed = await new Promise<grpc.ServiceError>((resolve) => watch.on('error', resolve));
    assert.is(failed.code, grpc.status.UNAVAILABLE);
    assert.is(failed.details, 'etcdserver: no leader');
  } finally {
    h.backend.leaderless = false;
  }
});

test('streams that require a leader end with "etcdserver: no leader" once it is gone for a while', async () => {
  const md = new grpc.Metadata();
  md.set('hasleader', 'true');
  const requiring = c.watch.Watch(md);
  const plain = c.watch.Watch();
  const keepAlive = c.lease.LeaseKeepAlive(md);
  const errors: grpc.ServiceError[] = [];
  // How many leaderless answers the server had seen when each stream ended: counted, not timed.
  const checksSeen: number[] = [];
  for (const s of [requiring, plain, keepAlive])
    s.on('error', (e: grpc.ServiceError) => {
      errors.push(e);
      checksSeen.push(h.backend.leaderlessAnswers);
    });
  requiring.write({ create_request: { key: b('k') } });
  plain.write({ create_request: { key: b('k') } });
  await Promise.all([requiring, plain].map((s) => new Promise((r) => s.once('data', r))));
  // Let a leader check see the leader (an earlier test left the cluster leaderless briefly).
  await sleep(120);
  const answersBefore = h.backend.leaderlessAnswers;
  h.backend.leaderless = true;
  try {
    await eventually(() => errors.length === 2, 5000, 'streams ended');
    assert.ok(
      checksSeen.every((n) => n - answersBefore > LEADERLESS_CHECKS),
      `not before ${LEADERLESS_CHECKS} leaderless checks: ${checksSeen.map((n) => n - answersBefore).join(', ')}`,
    );
    for (const e of errors)
      assert.equal([e.code, e.details], [grpc.status.UNAVAILABLE, 'etcdserver: no leader']);
  } finally {
    h.backend.leaderless = false;
  }
  // The stream without the requirement is still served.
  const seen = new Promise((r) => plain.once('data', r));
  await call(c.kv, 'Put', { key: b('k'), value: b('after') });
  await seen;
  plain.cancel();
});

test('health check and status after all of the above', async () => {
  assert.equal(await call(c.health, 'Check', { service: '' }), { status: 1 });
  assert.equal(await call(c.health, 'Check', { service: 'etcdserverpb.KV' }), { status: 1 });
  await expectError(call(c.health, 'Check', { service: 'nope' }), grpc.status.NOT_FOUND, 'unknown service');
  const status = await call(c.maintenance, 'Status', {});
  assert.is(status.version, '3.5.13');
  assert.equal(await call(c.maintenance, 'Alarm', { action: 0 }), { header: status.header, alarms: [] });
  const put = await call(c.kv, 'Put', { key: b('still'), value: b('alive') });
  assert.is(Number(put.header.revision), h.backend.revision());
});

test.run();
