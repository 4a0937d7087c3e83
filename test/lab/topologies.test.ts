// The roles a cluster takes by itself, by size: one node is one voter; three are three voters
// (high availability); five are 3 voters + 2 standbys; seven are 3 voters + 3 standbys + 1 spare.
// Each lab is real processes (a datastore and a cluster agent per node), formed through
// add-node/join; the roles are what the leader reports once they have settled.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { summarizeMembers } from '../../src/lab/format.js';
import { labStatus } from '../../src/lab/processes.js';
import { eventually, startLab } from './helpers.js';

const EXPECTED: Record<number, { voters: number; standbys: number; spares: number; ha: string }> = {
  1: { voters: 1, standbys: 0, spares: 0, ha: 'no' },
  3: { voters: 3, standbys: 0, spares: 0, ha: 'yes' },
  5: { voters: 3, standbys: 2, spares: 0, ha: 'yes' },
  7: { voters: 3, standbys: 3, spares: 1, ha: 'yes' },
};

for (const [size, want] of Object.entries(EXPECTED)) {
  test(`${size} node(s): ${want.voters} voters, ${want.standbys} standbys, ${want.spares} spares`, async () => {
    const started = Date.now();
    // Formed as users form clusters: add-node on node 1, join from every other node.
    const lab = await startLab(Number(size), '127.0.22.1', [], { formation: 'join', agentPort: 25022 });
    try {
      const readyMs = Date.now() - started;
      const nodes = await eventually(
        async () => {
          const all = await labStatus(lab.dir);
          const leader = all.find((n) => n.state === 'leader');
          const count = (role: string) => leader?.members.filter((m) => m.role === role).length ?? -1;
          const got = { voters: count('voter'), standbys: count('standby'), spares: count('spare') };
          const wanted = { voters: want.voters, standbys: want.standbys, spares: want.spares };
          if (JSON.stringify(got) !== JSON.stringify(wanted)) throw new Error(JSON.stringify(got));
          return all;
        },
        20_000,
        'the expected roles',
      );
      const summary = summarizeMembers(nodes);
      assert.is(summary[0], `high-availability: ${want.ha}`);
      // Every node agrees on its own role with the leader's view.
      const leader = nodes.find((n) => n.state === 'leader')!;
      for (const m of leader.members) assert.is(nodes.find((n) => n.id === m.id)!.role, m.role);
      console.log(
        `  ${size} node(s): serving ${readyMs} ms after lab up; ${summary.slice(2, 5).join(';').replace(/ +/g, ' ')}`,
      );
    } finally {
      await lab.down();
    }
  });
}

test.run();
