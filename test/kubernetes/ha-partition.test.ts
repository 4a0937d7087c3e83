/**
 * Issue 16, scenario 4: the split between two data centres, through the Kubernetes lab's own
 * `lab partition` and `lab heal`, on three control-plane nodes (10.201.8.0/24).
 * - With the datastore leader on the minority side: the minority's API server refuses writes
 *   quickly and clearly (etcd's "no leader" once it knows; a write already on its way to the lost
 *   leader gets etcd's ambiguous timeout, as it may still apply), the majority elects a leader and serves, and a client that writes through
 *   the majority loses nothing.
 * - With the leader on the majority side: the majority keeps its leader and serves every write;
 *   the minority refuses.
 * After each heal everything converges: one leader, one revision, every acknowledged write
 * readable through every API server, a write refused with "no leader" nowhere, every node Ready.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { kubeLabHeal, kubeLabPartition, kubeLabStatus } from '../../src/lab/kube/cluster.js';
import { ApiWriter } from './api-writer.js';
import { ScenarioLab } from './lab-scenario.js';
import { until } from './node-cli.js';
import { WAITS } from './scenario.js';

const lab = new ScenarioLab();
/** How long the client keeps writing through the majority while the split lasts. */
const SPLIT_WRITES_MS = 10_000;

test.after(async () => {
  await lab.down();
});

test('three control-plane nodes in the lab', async () => {
  await lab.up(3, '10.201.8');
  await lab.waitAllReady();
  assert.ok((await kubeLabStatus(lab.dir)).highAvailability);
});

/** etcd's definite refusal: nothing was proposed. */
const NO_LEADER = /etcdserver: no leader/;
/** etcd's ambiguous answer: the write was on its way to a leader that is gone; it may apply. */
const AMBIGUOUS = /possibly due to previous leader failure/;

/** A write through node i's own API server: refused, how fast, and with what message. */
async function refusedWrite(i: number, name: string): Promise<{ ms: number; message: string }> {
  const startedAt = Date.now();
  const r = await lab.node(i).run(['kubectl', 'create', 'configmap', name, '--request-timeout=60s'], 90_000);
  const ms = Date.now() - startedAt;
  assert.is.not(r.code, 0, `the minority accepted a write: ${r.stdout}`);
  return { ms, message: r.stderr.trim().split('\n').pop() ?? '' };
}

/**
 * Writes through the minority's API server. The first, right after the cut, may have been on its
 * way to the leader (an ambiguous answer); once the node knows it has no leader, a write is
 * refused with "no leader" at once, and must never appear. Returns the name that must not.
 */
async function minorityWrites(i: number, label: string): Promise<string> {
  const first = await refusedWrite(i, `${label}-first`);
  assert.match(first.message, new RegExp(`${NO_LEADER.source}|${AMBIGUOUS.source}`));
  console.log(`  the minority answered a write ${first.ms} ms after the cut: ${first.message}`);
  if (NO_LEADER.test(first.message)) return `${label}-first`;
  await until('the minority knows it has no leader', WAITS.recoverMs, async () =>
    (await lab.datastore(i))?.leader === 0 ? true : undefined,
  );
  const next = await refusedWrite(i, `${label}-refused`);
  assert.match(next.message, NO_LEADER);
  console.log(`  then refused a write in ${next.ms} ms: ${next.message}`);
  return `${label}-refused`;
}

async function split(label: string, cut: number): Promise<{ writer: ApiWriter; majority: number[] }> {
  const majority = lab.indexes.filter((i) => i !== cut);
  const writer = new ApiWriter(
    majority.map((i) => lab.address(i)),
    await lab.kubeconfig(majority[0]),
    label,
  );
  const sides = kubeLabPartition(lab.dir, [lab.name(cut)]);
  assert.equal(sides.cut, [lab.name(cut)]);
  return { writer, majority };
}

async function healAndConverge(writer: ApiWriter, refused: string): Promise<void> {
  const healedAt = Date.now();
  kubeLabHeal(lab.dir);
  const views = await lab.waitConverged();
  console.log(
    `  healed: converged in ${((Date.now() - healedAt) / 1000).toFixed(1)} s (revision ${views[0]!.revision} on every member)`,
  );
  await lab.assertEverywhere(writer.acknowledged());
  for (const i of lab.indexes) {
    const names = await lab.node(i).kubectl('get', 'configmaps', '-o', 'name');
    assert.not.match(names, `configmap/${refused}\n`, 'a refused write appeared after the heal');
  }
  await lab.waitAllReady();
  console.log(`  every node Ready ${((Date.now() - healedAt) / 1000).toFixed(1)} s after the heal`);
  await writer.close();
}

test('the split with the datastore leader on the minority side', async () => {
  const leader = await lab.leader();
  const { writer, majority } = await split('split-a', leader);
  const cutAt = Date.now();
  // The majority elects a leader among itself and the API serves writes through it again.
  await until('a write through the majority', WAITS.recoverMs, async () =>
    (await writer.write(lab.address(majority[0]!))).ok ? true : undefined,
  );
  const resumedMs = Date.now() - cutAt;
  const newLeader = await lab.leader(majority);
  assert.ok(majority.includes(newLeader));
  console.log(
    `  leader ${lab.name(leader)} cut off: the majority wrote again ${(resumedMs / 1000).toFixed(1)} s after the cut (new leader ${lab.name(newLeader)})`,
  );
  const refused = await minorityWrites(leader, 'minority-a');
  const failedBefore = writer.failed().length;
  writer.start();
  await sleep(SPLIT_WRITES_MS);
  await writer.stop();
  assert.equal(
    writer.failed().slice(failedBefore),
    [],
    'a write through the majority failed after it had a leader',
  );
  console.log(`  ${writer.acknowledged().length} writes acknowledged through the majority during the split`);
  await healAndConverge(writer, refused);
});

test('the split with the datastore leader on the majority side', async () => {
  const leader = await lab.leader();
  const before = await lab.datastore(leader);
  const cut = lab.indexes.find((i) => i !== leader)!;
  const { writer } = await split('split-b', cut);
  writer.start();
  const refused = await minorityWrites(cut, 'minority-b');
  await sleep(SPLIT_WRITES_MS);
  await writer.stop();
  // The majority never lost its leader: no failed write, the same leader in the same term.
  assert.equal(writer.failed(), []);
  const after = await lab.datastore(leader);
  assert.is(after?.state, 'leader');
  assert.is(after?.term, before?.term);
  console.log(
    `  ${lab.name(cut)} cut off: the majority kept leader ${lab.name(leader)} (term ${after?.term}) and acknowledged all ${writer.acknowledged().length} writes`,
  );
  await healAndConverge(writer, refused);
});

test.run();
