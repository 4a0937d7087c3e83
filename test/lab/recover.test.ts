// Quorum loss for good: 5 nodes, the 3 voters killed. `lab recover --force` (the same library as
// `dbctl recover --force`) turns the 2 survivors into a working cluster with every write they had,
// and a lost voter that comes back is refused until re-joined. Real processes; the CLI is run as
// a child process for the dry run.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labSignal, labStart, labStatus } from '../../src/lab/processes.js';
import { labRecover } from '../../src/lab/recovery.js';
import { readLab } from '../../src/lab/spec.js';
import { boundedClient, eventually, startLab, type TestLab, timeUntil } from './helpers.js';

const run = promisify(execFile);
let lab: TestLab;

test.before(async () => {
  lab = await startLab(5, '127.0.26.1');
});
test.after(async () => {
  await lab?.down();
});

test('3 of 5 voters lost: recover --force gives a working cluster with every write', async () => {
  const nodes = await labStatus(lab.dir);
  const client = boundedClient(
    nodes.map((n) => n.clientEndpoint),
    3000,
  );
  const acked: string[] = [];
  for (let i = 0; i < 200; i++) {
    await client.put(`rec/${String(i).padStart(4, '0')}`).value(String(i));
    acked.push(`rec/${String(i).padStart(4, '0')}`);
  }
  // The standbys have every acknowledged write (they replicate the log; only the voters' quorum
  // decides commit, so wait until they have applied it all before the disaster).
  await eventually(
    async () => {
      const all = await labStatus(lab.dir);
      const leader = all.find((n) => n.state === 'leader')!;
      if (!all.filter((n) => n.role === 'standby').every((n) => n.applied >= leader.applied))
        throw new Error('lagging');
    },
    10_000,
    'standbys caught up',
  );
  const voters = nodes.filter((n) => n.role === 'voter');
  for (const v of voters) await labSignal(lab.dir, v.name, 'SIGKILL');

  // The dry run changes nothing and says what it would do.
  const { stdout } = await run(process.execPath, ['bin/run.js', 'lab', 'recover', '--dir', lab.dir], {
    encoding: 'utf8',
  });
  assert.match(stdout, /survivors: node4, node5; lost for good: node1, node2, node3/);
  assert.match(stdout, /nothing changed/);

  const started = Date.now();
  const result = await labRecover(lab.dir, { force: true });
  const recoveredMs = Date.now() - started;
  assert.equal(result.survivors, ['node4', 'node5']);
  console.log(`  ${result.plan!.join('\n  ')}`);
  const survivorsClient = boundedClient(
    nodes.filter((n) => n.role === 'standby').map((n) => n.clientEndpoint),
    3000,
  );
  const firstWriteMs = await timeUntil(
    async () => {
      await survivorsClient.put('rec/after').value('x');
      return true;
    },
    20_000,
    'a write on the recovered cluster',
  );
  const keys = new Set(await survivorsClient.getAll().prefix('rec/').keys());
  assert.equal(
    acked.filter((k) => !keys.has(k)),
    [],
    'every acknowledged write survived',
  );
  assert.ok(keys.has('rec/after'));
  // Backups of both survivors exist.
  const backups = readdirSync(lab.dir).filter((f) => f.includes('.backup-'));
  assert.is(backups.length, 2, `backups: ${backups.join(', ')}`);

  // A lost voter comes back with its old data: it is refused and cannot disturb the new cluster.
  await labStart(lab.dir, 'node1');
  const lost = readLab(lab.dir).nodes.find((n) => n.name === 'node1')!;
  await eventually(
    async () => {
      const logs = ['node4', 'node5']
        .map((n) => readFileSync(join(lab.dir, n, 'datastore.log'), 'utf8'))
        .join('');
      if (!/node 1 belongs to cluster 'microk8s-lab', not 'microk8s-lab-recovered-/.test(logs))
        throw new Error('not yet');
      // ... and node1 is told why (a reject frame), not just disconnected.
      const own = readFileSync(join(lab.dir, 'node1', 'datastore.log'), 'utf8');
      if (!/"message":"the peer refused this node".*re-joined/.test(own)) throw new Error('node1 not told');
    },
    15_000,
    'the survivors refuse node1 with a clear message',
  );
  await survivorsClient.put('rec/after-lost-came-back').value('y');
  const status = await labStatus(lab.dir);
  const leader = status.find((n) => n.state === 'leader')!;
  assert.ok(['node4', 'node5'].includes(leader.name), 'a survivor leads');
  assert.equal(leader.members.map((m) => m.id).sort(), [4, 5], 'the lost nodes are not members');
  assert.is(status.find((n) => n.id === lost.id)!.state.startsWith('lost'), true);
  console.log(`  recovery (stop, recover, start) ${recoveredMs} ms; first write ${firstWriteMs} ms after`);
});

test.run();
