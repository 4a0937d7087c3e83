import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { b, Harness, keys, str, ZERO } from './helpers.js';

const NOT_FOUND = { code: 'MK_LEASE_NOT_FOUND', message: 'etcdserver: requested lease not found' };

test('grant: positive unique ids, no revision', () => {
  const h = new Harness();
  assert.equal(h.ok({ type: 'leaseGrant', id: 7, ttl: 30 }), {
    type: 'leaseGrant',
    id: 7,
    ttl: 30,
    revision: 1,
  });
  assert.equal(h.fail({ type: 'leaseGrant', id: 7, ttl: 60 }), {
    code: 'MK_INVALID_ARGUMENT',
    message: 'etcdserver: lease already exists',
  });
  assert.is(h.fail({ type: 'leaseGrant', id: 0, ttl: 60 }).code, 'MK_INVALID_ARGUMENT');
  assert.is(h.sm.revision(), 1);
  assert.equal(h.sm.lease(7), { id: 7, ttl: 30, keys: [] });
  assert.is(h.sm.lease(8), undefined);
});

test('attach, move between leases, detach', () => {
  const h = new Harness();
  h.ok({ type: 'leaseGrant', id: 1, ttl: 10 });
  h.ok({ type: 'leaseGrant', id: 2, ttl: 20 });
  h.put('a', 'x', { lease: 1 });
  h.put('b', 'x', { lease: 1 });
  h.put('c', 'x', { lease: 2 });
  h.put('b', 'y', { lease: 2 }); // moves b to lease 2
  h.put('c', 'y'); // detaches c
  assert.equal(
    h.sm.leases().map((l) => [l.id, l.ttl, l.keys.map(str)]),
    [
      [1, 10, ['a']],
      [2, 20, ['b']],
    ],
  );
  assert.is(h.get('b')!.lease, 2);
  assert.is(h.get('c')!.lease, 0);
});

test('revoke and expire delete the keys in one revision with delete events', () => {
  const h = new Harness();
  h.ok({ type: 'leaseGrant', id: 1, ttl: 10 });
  h.ok({ type: 'leaseGrant', id: 2, ttl: 10 });
  h.put('/l/b', 'vb', { lease: 1 }); // 2
  h.put('/l/a', 'va', { lease: 1 }); // 3
  h.put('/keep', 'k', { lease: 2 }); // 4
  h.put('/free', 'f'); // 5
  const events = h.record();
  assert.equal(h.ok({ type: 'leaseRevoke', id: 1 }), { type: 'leaseRevoke', revision: 6 });
  assert.is(h.sm.revision(), 6);
  assert.equal(keys(h.sm.range({ key: ZERO, rangeEnd: ZERO }).kvs), ['/free', '/keep']);
  assert.is(h.sm.lease(1), undefined);
  assert.is(events.length, 1);
  assert.is(events[0]!.revision, 6);
  assert.equal(events[0]!.events, [
    {
      type: 'delete',
      kv: {
        key: b('/l/a'),
        value: new Uint8Array(0),
        createRevision: 0,
        modRevision: 6,
        version: 0,
        lease: 0,
      },
      prevKv: { key: b('/l/a'), value: b('va'), createRevision: 3, modRevision: 3, version: 1, lease: 1 },
    },
    {
      type: 'delete',
      kv: {
        key: b('/l/b'),
        value: new Uint8Array(0),
        createRevision: 0,
        modRevision: 6,
        version: 0,
        lease: 0,
      },
      prevKv: { key: b('/l/b'), value: b('vb'), createRevision: 2, modRevision: 2, version: 1, lease: 1 },
    },
  ]);
  assert.equal(h.ok({ type: 'leaseExpire', id: 2 }), { type: 'leaseRevoke', revision: 7 });
  assert.equal(keys(h.sm.range({ key: ZERO, rangeEnd: ZERO }).kvs), ['/free']);
  assert.equal(h.sm.leases(), []);
});

test('a lease without keys revokes without a revision', () => {
  const h = new Harness();
  h.ok({ type: 'leaseGrant', id: 3, ttl: 5 });
  const events = h.record();
  assert.equal(h.ok({ type: 'leaseRevoke', id: 3 }), { type: 'leaseRevoke', revision: 1 });
  assert.equal(events, []);
  assert.is(h.sm.lease(3), undefined);
});

test('unknown leases: revoke, expire, keep-alive, put', () => {
  const h = new Harness();
  assert.equal(h.fail({ type: 'leaseRevoke', id: 42 }), NOT_FOUND);
  assert.equal(h.fail({ type: 'leaseExpire', id: 42 }), NOT_FOUND);
  assert.equal(h.fail({ type: 'leaseKeepAlive', id: 42 }), NOT_FOUND);
  assert.equal(h.fail({ type: 'put', request: { key: b('k'), value: b('v'), lease: 42 } }), NOT_FOUND);
  h.ok({ type: 'leaseGrant', id: 42, ttl: 9 });
  assert.equal(h.ok({ type: 'leaseKeepAlive', id: 42 }), { type: 'leaseKeepAlive', id: 42, ttl: 9 });
  h.ok({ type: 'leaseRevoke', id: 42 });
  assert.equal(h.fail({ type: 'leaseRevoke', id: 42 }), NOT_FOUND);
  assert.is(h.sm.revision(), 1);
});

test('a revoked lease takes its keys out of every later read, history keeps them', () => {
  const h = new Harness();
  h.ok({ type: 'leaseGrant', id: 1, ttl: 10 });
  h.put('a', '1', { lease: 1 }); // 2
  h.ok({ type: 'leaseRevoke', id: 1 }); // 3
  assert.is(h.sm.range({ key: b('a'), revision: 2 }).kvs.length, 1);
  assert.is(h.sm.range({ key: b('a'), revision: 3 }).kvs.length, 0);
  assert.equal(
    h.sm.history(2, b('a'), undefined, 10).events.map((r) => [r.revision, r.events.map((e) => e.type)]),
    [
      [2, ['put']],
      [3, ['delete']],
    ],
  );
});

test.run();
