// Roles follow failures on real processes: in a 5-node lab (3 voters spread over 3 failure domains,
// 2 standbys), killing a voter makes the leader promote a caught-up standby first and then demote
// the dead voter to spare; writes go on throughout. Timings are printed for the closing note.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { summarizeMembers } from '../../src/lab/format.js';
import { labSignal, labStatus } from '../../src/lab/processes.js';
import { boundedClient, longestGapSince, startLab, startWriter, type TestLab, timeUntil } from './helpers.js';

let lab: TestLab;

test.before(async () => {
  // A member unheard of for 3 s is reported dead (the default is 5 minutes).
  lab = await startLab(5, '127.0.21.1', ['--dead-after=3']);
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
  const others = before.filter((n) => n.name !== victim.name);
  const writer = startWriter(boundedClient(others.map((n) => n.clientEndpoint)), 'roles');
  try {
    await timeUntil(async () => writer.result.acked.length >= 20, 10_000, 'first writes');
    await labSignal(lab.dir, victim.name, 'SIGKILL');
    const killed = Date.now();
    const voters = async () => {
      const leader = (await labStatus(lab.dir)).find((n) => n.state === 'leader');
      return leader?.members ?? [];
    };
    const promotedMs = await timeUntil(
      async () => (await voters()).filter((m) => m.role === 'voter' && m.id !== victim.id).length === 3,
      20_000,
      'a standby promoted',
    );
    const demotedMs = await timeUntil(
      async () => (await voters()).find((m) => m.id === victim.id)?.role === 'spare',
      20_000,
      'the dead voter demoted',
    );
    const members = await voters();
    const result = await writer.stop();
    console.log(
      `  back to 3 voters ${promotedMs} ms after the kill, dead voter demoted ${demotedMs} ms after;` +
        ` longest write gap ${longestGapSince(result, killed)} ms, ${result.failures} failed writes;` +
        ` members: ${members.map((m) => `${m.id}:${m.role}`).join(' ')}`,
    );
    assert.is(members.find((m) => m.id === victim.id)?.online, false, 'the leader sees it offline');
    // Offline for longer than --dead-after: reported dead, and still a member (only an operator removes it).
    const deadMs = await timeUntil(
      async () => (await voters()).find((m) => m.id === victim.id)?.dead === true,
      20_000,
      'reported dead',
    );
    const summary = summarizeMembers(await labStatus(lab.dir));
    assert.ok(
      summary.some((line) => line.includes(`dead: ${victim.name}`)),
      summary.join('\n'),
    );
    assert.ok(
      (await voters()).some((m) => m.id === victim.id),
      'still a member',
    );
    console.log(
      `  reported dead ${demotedMs + promotedMs + deadMs} ms after the kill: ${summary.find((l) => l.includes('dead'))!.trim()}`,
    );
  } finally {
    await writer.stop();
  }
});

test.run();
