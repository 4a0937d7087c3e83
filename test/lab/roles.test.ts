// Roles follow failures on real processes: in a 5-node lab (3 voters spread over 3 failure domains,
// 2 standbys), killing a voter makes the leader promote a caught-up standby first and then demote
// the dead voter to spare; writes go on throughout.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labSignal, labStatus, nodeReport, readLab } from '../../src/datastore/lab/lab.js';
import { eventually, startLab, type TestLab } from './helpers.js';

let lab: TestLab;

test.before(async () => {
  lab = await startLab(5, '127.0.21.1');
});
test.after(async () => {
  await lab?.down();
});

test('a dead voter is replaced by a standby within seconds, then demoted to spare', async () => {
  const before = await labStatus(lab.dir);
  assert.equal(
    before.map((n) => n.role),
    ['voter', 'voter', 'voter', 'standby', 'standby'],
  );
  const victim = before.find((n) => n.role === 'voter' && n.state !== 'leader')!;
  const client = lab.client(before.filter((n) => n.name !== victim.name).map((n) => n.name));
  await client.put('roles/before').value('1');
  await labSignal(lab.dir, victim.name, 'SIGKILL');
  const members = await eventually(
    async () => {
      const leader = (await labStatus(lab.dir)).find((n) => n.state === 'leader');
      if (!leader) throw new Error('no leader');
      const report = await nodeReport(readLab(lab.dir).nodes.find((n) => n.name === leader.name)!);
      const m = report?.members ?? [];
      const voters = m.filter((x) => x.role === 'voter').map((x) => x.id);
      const dead = m.find((x) => x.id === victim.id);
      if (voters.length !== 3 || voters.includes(victim.id) || dead?.role !== 'spare') {
        throw new Error(`members now ${JSON.stringify(m.map((x) => `${x.id}:${x.role}`))}`);
      }
      return m;
    },
    20_000,
    'the dead voter replaced',
  );
  console.log(`  members after the failure: ${members.map((m) => `${m.id}:${m.role}`).join(' ')}`);
  await client.put('roles/after').value('2');
  assert.is(await client.get('roles/after').string(), '2');
});

test.run();
