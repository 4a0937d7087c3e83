/**
 * Issue 16, scenario 5: five control-plane nodes in the Kubernetes lab (10.201.9.0/24) over three
 * failure domains (zone-1: node1, node4; zone-2: node2, node5; zone-3: node3). The roles planner
 * spreads the three voters over the three domains and keeps the other two nodes as standbys.
 * Two nodes die at once (SIGKILL of everything in them: a whole domain, the leader's when it has
 * two nodes): the cluster keeps serving, because at most one voter was in that domain, and a
 * standby is promoted in place of the dead voter.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { MemberReport } from '../../src/datastore/node/roles-agent.js';
import { crashNode } from '../../src/lab/kube/cluster.js';
import { ApiWriter } from './api-writer.js';
import { ScenarioLab } from './lab-scenario.js';
import { until } from './node-cli.js';
import { WAITS } from './scenario.js';

const lab = new ScenarioLab();

test.after(async () => {
  await lab.down();
});

/** The member table as node i's datastore reports it. */
async function members(i: number): Promise<readonly MemberReport[]> {
  return (await lab.datastore(i))?.members ?? [];
}

test('five control-plane nodes: three voters, one in each failure domain, and two standbys', async () => {
  await lab.up(5, '10.201.9');
  await lab.waitAllReady();
  const table = await until('voters spread over the three domains', WAITS.recoverMs, async () => {
    const list = await members(await lab.leader());
    const voters = list.filter((m) => m.role === 'voter');
    const domains = new Set(voters.map((m) => m.failureDomain));
    return voters.length === 3 && domains.size === 3 && list.filter((m) => m.role === 'standby').length === 2
      ? list
      : undefined;
  });
  console.log(`  roles: ${table.map((m) => `node${m.id} ${m.role} ${m.failureDomain}`).join(', ')}`);
});

test('two nodes killed at once: the cluster keeps serving and a standby is promoted', async () => {
  const leader = await lab.leader();
  const table = await members(leader);
  const domainOf = (i: number) => table.find((m) => m.id === i + 1)!.failureDomain;
  const pairOf = (domain: string) => lab.indexes.filter((i) => domainOf(i) === domain);
  // The leader's domain when it holds two nodes, else another domain of two.
  const domain =
    pairOf(domainOf(leader)).length === 2
      ? domainOf(leader)
      : domainOf(lab.indexes.find((i) => pairOf(domainOf(i)).length === 2)!);
  const killed = pairOf(domain);
  assert.is(killed.length, 2);
  const survivors = lab.indexes.filter((i) => !killed.includes(i));
  const writer = new ApiWriter(
    survivors.map((i) => lab.address(i)),
    await lab.kubeconfig(survivors[0]),
    'five',
  );
  const killedAt = Date.now();
  await Promise.all(killed.map((i) => crashNode(lab.spec.network, i, lab.spec.nodes[i]!.home)));
  await until('a write through a survivor', WAITS.recoverMs, async () =>
    (await writer.write(lab.address(survivors[0]!))).ok ? true : undefined,
  );
  const resumedMs = Date.now() - killedAt;
  const promoted = await until('three live voters again', WAITS.recoverMs, async () => {
    const list = await members(await lab.leader(survivors));
    const liveVoters = list.filter((m) => m.role === 'voter' && survivors.includes(m.id - 1));
    return liveVoters.length === 3 ? list : undefined;
  });
  const promotedMs = Date.now() - killedAt;
  console.log(
    `  ${killed.map((i) => lab.name(i)).join(' and ')} (${domain}${killed.includes(leader) ? ', the leader among them' : ''}) killed: writes resumed in ${(resumedMs / 1000).toFixed(1)} s; three live voters again in ${(promotedMs / 1000).toFixed(1)} s: ${promoted.map((m) => `node${m.id} ${m.role}`).join(', ')}`,
  );
  for (let n = 0; n < 20; n++) await writer.write(lab.address(survivors[n % survivors.length]!));
  assert.equal(
    writer.failed().filter((f) => f.startedAt > killedAt + resumedMs),
    [],
  );
  await lab.assertEverywhere(writer.acknowledged(), survivors);
  await writer.close();
});

test.run();
