// Failure domains and weights decide where the voters go (real processes).
// - 6 nodes in 3 domains: the voters sit in 3 different domains; when a whole domain dies, the
//   voters move to the two that remain.
// - Among equal candidates the lower weight is promoted; weights and domains change at run time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { MemberReport } from '../../src/datastore/node/roles-agent.js';
import { labSetPlacement } from '../../src/lab/moves.js';
import { labSignal, labStatus } from '../../src/lab/processes.js';
import { eventually, startLab, timeUntil } from './helpers.js';

async function leaderView(dir: string): Promise<readonly MemberReport[]> {
  const leader = (await labStatus(dir)).find((n) => n.state === 'leader');
  if (!leader) throw new Error('no leader');
  return leader.members;
}

const domainsOf = (members: readonly MemberReport[], role: string) =>
  members.filter((m) => m.role === role).map((m) => m.failureDomain);

test('6 nodes in 3 domains: one voter per domain; a dead domain moves its voter', async () => {
  const lab = await startLab(6, '127.0.23.1');
  try {
    const members = await eventually(
      async () => {
        const m = await leaderView(lab.dir);
        if (new Set(domainsOf(m, 'voter')).size !== 3) throw new Error(JSON.stringify(m));
        return m;
      },
      20_000,
      'voters in three domains',
    );
    // Kill the whole domain of a voter that is not the leader, so the test also sees no election.
    const nodes = await labStatus(lab.dir);
    const leader = nodes.find((n) => n.state === 'leader')!;
    const doomed = members.find((m) => m.role === 'voter' && m.id !== leader.id)!.failureDomain;
    const victims = nodes.filter((n) => n.failureDomain === doomed);
    for (const v of victims) await labSignal(lab.dir, v.name, 'SIGKILL');
    const killed = Date.now();
    const movedMs = await timeUntil(
      async () => {
        const m = await leaderView(lab.dir);
        const voters = m.filter((x) => x.role === 'voter');
        const domains = new Set(voters.map((x) => x.failureDomain));
        return voters.length === 3 && !domains.has(doomed) && domains.size === 2;
      },
      20_000,
      'voters in the two remaining domains',
    );
    const after = await leaderView(lab.dir);
    console.log(
      `  killed ${doomed} (${victims.map((v) => v.name).join(', ')}); voters in ${[...new Set(domainsOf(after, 'voter'))].join(', ')} after ${Date.now() - killed} ms (${movedMs} ms measured)`,
    );
  } finally {
    await lab.down();
  }
});

test('among equal candidates the lower weight is promoted; placement changes at run time', async () => {
  const lab = await startLab(5, '127.0.24.1');
  try {
    // One domain for all at run time, so only the weight separates the two standbys.
    for (const name of ['node1', 'node2', 'node3', 'node4', 'node5']) {
      await labSetPlacement(lab.dir, name, { failureDomain: 'dc' });
    }
    await labSetPlacement(lab.dir, 'node4', { weight: 50 });
    await labSetPlacement(lab.dir, 'node5', { weight: 1 });
    await eventually(
      async () => {
        const m = await leaderView(lab.dir);
        const placed = m.map((x) => `${x.id}:${x.failureDomain}:${x.weight}`).join(' ');
        if (placed !== '1:dc:0 2:dc:0 3:dc:0 4:dc:50 5:dc:1') throw new Error(placed);
      },
      10_000,
      'the new placement replicated',
    );
    const status = await labStatus(lab.dir);
    assert.is(status.find((n) => n.name === 'node5')!.weight, 1, 'lab status shows the weight');
    const victim = status.find((n) => n.role === 'voter' && n.state !== 'leader')!;
    await labSignal(lab.dir, victim.name, 'SIGKILL');
    const ms = await timeUntil(
      async () => (await leaderView(lab.dir)).find((m) => m.id === 5)?.role === 'voter',
      20_000,
      'node5 (weight 1) promoted',
    );
    const m = await leaderView(lab.dir);
    assert.is(m.find((x) => x.id === 4)!.role, 'standby', 'node4 (weight 50) stays a standby');
    console.log(`  ${victim.name} killed: node5 (weight 1) promoted over node4 (weight 50) in ${ms} ms`);
  } finally {
    await lab.down();
  }
});

test.run();
