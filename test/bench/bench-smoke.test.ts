/**
 * The compare bench's etcd workloads do what they claim, on a real single-member etcd (Debian's
 * etcd-server): the paged list reads every key once, the kube create/update/delete Txns succeed,
 * watch latency sees every event, leases are granted and revoked. No timing is checked: figures
 * belong to `npm run bench -- compare`, never to a test.
 */
import { Etcd3 } from 'etcd3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Created,
  fillKeys,
  kubeCreateTxn,
  kubeDeleteTxn,
  kubeUpdateTxn,
  leaseWorkload,
  listPaged,
  prefixEnd,
  runLoad,
  watchLatency,
} from '../../bench/workloads.js';
import { type EtcdCluster, startEtcdCluster } from '../peers/etcd-cluster.js';

let etcd: EtcdCluster;
let client: Etcd3;

test.before(async () => {
  etcd = await startEtcdCluster({ size: 1, baseAddress: '127.0.33.1' });
  client = new Etcd3({ hosts: etcd.endpoints, dialTimeout: 2000 });
});

test.after(async () => {
  client?.close();
  await etcd?.stop();
});

test('prefixEnd is the first key after every key with the prefix', () => {
  assert.equal(prefixEnd(Buffer.from('bench/list/')).toString(), 'bench/list0');
  assert.equal([...prefixEnd(Buffer.from([0x61, 0xff]))], [0x62]);
  assert.equal([...prefixEnd(Buffer.from([0xff, 0xff]))], [0]);
});

test('listPaged pages through every key once, in pages of the limit', async () => {
  await fillKeys(client, 'bench/list/', 1201, 16);
  await client.put('bench/listx').value('outside the prefix');
  const r = await listPaged(client, 'bench/list/', 500);
  assert.is(r.keys, 1201);
  assert.is(r.pages, 3);
});

test('the kube create, update and delete Txns succeed and delete what was created', async () => {
  const created: Created = [];
  const create = await runLoad(4, 0.3, kubeCreateTxn(client, 32, 'bench/create/', created));
  assert.is(create.errors, 0);
  assert.ok(created.length > 0);
  assert.is(created.length, create.ops);
  const update = kubeUpdateTxn(client, 32, 10);
  const updated = await runLoad(4, 0.3, update.op);
  assert.is(updated.errors, 0);
  // Stops by itself once every created key is deleted (well before the 30 s bound).
  const deleted = await runLoad(4, 30, kubeDeleteTxn(client, created));
  assert.is(deleted.errors, 0);
  assert.is(created.length, 0);
  const left = await client.getAll().prefix('bench/create/').count();
  assert.is(left, 0);
});

test('watchLatency sees every event', async () => {
  const r = await watchLatency(client, client, 'bench/watch/', 20, 10);
  assert.is(r.events, 20);
  assert.is(r.missed, 0);
});

test('leaseWorkload grants, keeps alive and revokes every lease', async () => {
  const lease = leaseWorkload(client, 60);
  const r = await runLoad(2, 0.3, lease.op);
  assert.is(r.errors, 0);
  assert.is(await lease.revokeAll(), r.ops);
  const left = await client.leaseClient.leaseLeases({});
  assert.is(left.leases.length, 0);
});

test.run();
