/** The restore plan (pure): the archive's keyspace, but the cluster's identity guards never rolled back. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { restorePlan } from '../../src/lifecycle/restore-plan.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const kv = (key: string, value: string) => ({ key: b64(key), value: b64(value) });
const text = (keys: readonly string[]) => keys.map((k) => Buffer.from(k, 'base64').toString()).sort();
const cert = (serial: string, revokedAt?: string) =>
  JSON.stringify({
    serial,
    subject: 'CN=x',
    node: 'w1',
    kind: 'worker',
    issuedAt: 't',
    notAfter: 't',
    ...(revokedAt ? { revokedAt } : {}),
  });

test('plain keys: the archive wins; unchanged values are not written again', () => {
  const plan = restorePlan(
    [kv('a', '1'), kv('b', 'old'), kv('stray', 'x')],
    [kv('a', '1'), kv('b', 'new'), kv('c', '3')],
  );
  assert.equal(text(plan.deletes), ['stray']);
  assert.equal(text(plan.puts.map((p) => p.key)), ['b', 'c']);
  assert.equal(plan.kept, []);
});

test('the highest member id is never lowered, and raised from the archive when higher', () => {
  const key = '/microk8s/members/highest-id';
  const lower = restorePlan([kv(key, '5')], [kv(key, '3')]);
  assert.equal(lower.puts, []);
  assert.equal(
    lower.kept.map((k) => k.key),
    [key],
  );
  assert.equal(restorePlan([kv(key, '5')], []).deletes, [], 'not deleted when the archive has none');
  assert.equal(text(restorePlan([kv(key, '2')], [kv(key, '7')]).puts.map((p) => p.key)), [key]);
});

test("certificate records: the cluster's kept, a revocation never undone, the archive's added", () => {
  const own = '/microk8s/certs/aa';
  const shared = '/microk8s/certs/bb';
  const theirs = '/microk8s/certs/cc';
  const plan = restorePlan(
    [kv(own, cert('aa')), kv(shared, cert('bb', '2026-01-01T00:00:00Z'))],
    [kv(shared, cert('bb')), kv(theirs, cert('cc'))],
  );
  assert.equal(plan.deletes, []);
  assert.equal(text(plan.puts.map((p) => p.key)), [theirs]);
  assert.equal(plan.kept.map((k) => k.key).sort(), [own, shared]);
  // A revocation in the archive is restored.
  const revoke = restorePlan([kv(shared, cert('bb'))], [kv(shared, cert('bb', '2026-01-01T00:00:00Z'))]);
  assert.equal(text(revoke.puts.map((p) => p.key)), [shared]);
});

test("node name claims: the cluster's nodes keep theirs, the archive's others are added", () => {
  const mine = '/microk8s/node-names/node1';
  const other = '/microk8s/node-names/node7';
  const plan = restorePlan(
    [kv(mine, '{"address":"10.0.0.11"}')],
    [kv(mine, '{"address":"10.0.0.1"}'), kv(other, '{"address":"10.0.0.7"}')],
  );
  assert.equal(plan.deletes, []);
  assert.equal(text(plan.puts.map((p) => p.key)), [other]);
  assert.equal(
    plan.kept.map((k) => k.key),
    [mine],
  );
});

test.run();
