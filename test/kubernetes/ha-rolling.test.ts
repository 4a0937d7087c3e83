/**
 * Issue 16, scenario 6: a rolling restart of every node of a three-node Kubernetes lab
 * (10.201.10.0/24) under a steady stream of API writes. Each node in turn is taken out of the
 * client's rotation (as a load balancer drains it), stopped with `microk8s stop` (the datastore
 * hands its leadership and role over first), started again, and put back once it serves. No
 * write may fail beyond one leadership transfer: at most the write in flight while the leader
 * hands over. Nothing acknowledged is lost, and every node is Ready at the end.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { kubeLabNodeCommand } from '../../src/lab/kube/cluster.js';
import { ApiWriter } from './api-writer.js';
import { ScenarioLab } from './lab-scenario.js';
import { waitReady } from './scenario.js';

const lab = new ScenarioLab();
/** Writes go on this long with every node in service between two restarts. */
const SETTLE_MS = 3_000;

test.after(async () => {
  await lab.down();
});

test('three control-plane nodes in the lab', async () => {
  await lab.up(3, '10.201.10');
  await lab.waitAllReady();
});

test('a rolling restart of every node under a steady stream of writes', async () => {
  const writer = new ApiWriter(
    lab.indexes.map((i) => lab.address(i)),
    await lab.kubeconfig(),
    'rolling',
  );
  writer.start();
  let transfers = 0;
  const startedAt = Date.now();
  try {
    // Followers first, the leader last (as an operator would), so one transfer is expected.
    const leader = await lab.leader();
    const order = [...lab.indexes.filter((i) => i !== leader), leader];
    for (const i of order) {
      const before = await lab.leader();
      writer.setInService(lab.address(i), false);
      const restartAt = Date.now();
      await kubeLabNodeCommand(lab.dir, lab.name(i), 'stop');
      await kubeLabNodeCommand(lab.dir, lab.name(i), 'start');
      await waitReady(lab.node(i));
      await lab.waitConverged();
      writer.setInService(lab.address(i), true);
      const after = await lab.leader();
      if (after !== before) transfers++;
      console.log(
        `  ${lab.name(i)} restarted in ${((Date.now() - restartAt) / 1000).toFixed(1)} s; leader ${lab.name(before)} -> ${lab.name(after)}; ${writer.acknowledged().length} writes acknowledged, ${writer.failed().length} failed so far`,
      );
      await sleep(SETTLE_MS);
    }
  } finally {
    await writer.stop();
  }
  const failed = writer.failed();
  console.log(
    `  rolling restart of ${lab.indexes.length} nodes in ${((Date.now() - startedAt) / 1000).toFixed(0)} s: ${writer.acknowledged().length} writes acknowledged, ${failed.length} failed (${failed.map((f) => f.error).join('; ') || 'none'}), ${transfers} leadership transfer(s)`,
  );
  assert.ok(transfers <= 1, `${transfers} leadership transfers`);
  assert.ok(
    failed.length <= transfers,
    `writes failed beyond one leadership transfer: ${JSON.stringify(failed)}`,
  );
  await lab.assertEverywhere(writer.acknowledged());
  await lab.waitAllReady();
  await writer.close();
});

test.run();
