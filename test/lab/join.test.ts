// A node joins a running cluster at the datastore level: it is recorded in the replicated member
// table, the leader adds it as a spare, the planner makes it a standby, and every node reaches it
// through the address in the table (their args files do not name it). Real processes.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labAddNode, labMoveNode, labRemoveNode } from '../../src/lab/moves.js';
import { labSignal, labStart, labStatus, nodeReport } from '../../src/lab/processes.js';
import { readLab } from '../../src/lab/spec.js';
import { eventually, startLab, type TestLab } from './helpers.js';

let lab: TestLab;

test.before(async () => {
  lab = await startLab(3, '127.0.27.1');
});
test.after(async () => {
  await lab?.down();
});

test('a fourth node joins as a spare, becomes a standby and replicates', async () => {
  const client = lab.client();
  await client.put('join/before').value('1');
  const started = Date.now();
  const node = await labAddNode(lab.dir);
  assert.is(node.name, 'node4');
  assert.not.match(
    readFileSync(`${lab.nodes[0]!.dataDir}/args`, 'utf8'),
    /--peer=4=/,
    'node1 was not told by its args',
  );
  const roleMs = await eventually(
    async () => {
      const leader = (await labStatus(lab.dir)).find((n) => n.state === 'leader');
      const role = leader?.members.find((m) => m.id === 4)?.role;
      if (role !== 'standby') throw new Error(`node4 is ${role ?? 'not a member'}`);
      return Date.now() - started;
    },
    20_000,
    'node4 a standby',
  );
  // The joiner's own view of the group is the leader's: it started from the same membership the
  // others' logs start from (a joiner that saw only the later entries would believe itself alone).
  await eventually(
    async () => {
      const own = (await nodeReport(readLab(lab.dir).nodes.find((n) => n.name === 'node4')!))?.members ?? [];
      const view = own.map((m) => `${m.id}:${m.role}`).join(' ');
      if (view !== '1:voter 2:voter 3:voter 4:standby') throw new Error(view);
    },
    10_000,
    "node4's own view of the membership",
  );
  await client.put('join/after').value('2');
  const endpoint = (await labStatus(lab.dir)).find((n) => n.name === 'node4')!.clientEndpoint;
  const read = () =>
    execFileSync(
      'etcdctl',
      [`--endpoints=${endpoint}`, 'get', 'join/', '--prefix', '--consistency=s', '--keys-only'],
      {
        encoding: 'utf8',
        env: { ...process.env, ETCDCTL_API: '3' },
      },
    );
  await eventually(
    async () => {
      if (!/join\/after/.test(read())) throw new Error('not replicated yet');
    },
    10_000,
    'node4 holding the data',
  );
  const members = execFileSync('etcdctl', [`--endpoints=${lab.nodes[0]!.clientEndpoint}`, 'member', 'list'], {
    encoding: 'utf8',
    env: { ...process.env, ETCDCTL_API: '3' },
  });
  assert.match(members, /node4.*127\.0\.27\.4:2380/);
  console.log(`  node4 joined and became a standby ${roleMs} ms after lab add started`);
});

test('a node whose address changed keeps working: every member learns the new address', async () => {
  const client = lab.client(['node1', 'node2']);
  await client.put('move/before').value('1');
  const t = Date.now();
  await labMoveNode(lab.dir, 'node3', '127.0.27.33');
  await client.put('move/after').value('2');
  const endpoint = 'http://127.0.27.33:2379';
  await eventually(
    async () => {
      const out = execFileSync(
        'etcdctl',
        [`--endpoints=${endpoint}`, 'get', 'move/after', '--consistency=s'],
        {
          encoding: 'utf8',
          env: { ...process.env, ETCDCTL_API: '3' },
        },
      );
      if (!/move\/after/.test(out)) throw new Error('not replicated yet');
    },
    20_000,
    'node3 replicating at its new address',
  );
  const movedMs = Date.now() - t;
  const peerCert = new X509Certificate(readFileSync(join(lab.dir, 'certs', 'node3', 'peer.crt')));
  assert.match(
    peerCert.subjectAltName ?? '',
    /IP Address:127\.0\.27\.33/,
    'the certificate names the new address',
  );
  await eventually(
    async () => {
      const members = execFileSync(
        'etcdctl',
        [`--endpoints=${lab.nodes[0]!.clientEndpoint}`, 'member', 'list'],
        {
          encoding: 'utf8',
          env: { ...process.env, ETCDCTL_API: '3' },
        },
      );
      if (!/127\.0\.27\.33:2380/.test(members)) throw new Error(members);
    },
    10_000,
    'the member table holding the new address',
  );
  console.log(`  node3 moved to 127.0.27.33 and replicated there ${movedMs} ms after the stop began`);
});

test('remove a member: refused while alive, done once it is dead; --force removes a live voter safely', async () => {
  // node4 is alive: refused without force, nothing changes.
  try {
    await labRemoveNode(lab.dir, 'node4', { force: false });
    assert.unreachable('removing a live member needs --force');
  } catch (error) {
    assert.match(String(error), /alive and a member/);
  }
  await labSignal(lab.dir, 'node4', 'SIGKILL');
  await eventually(
    async () => {
      const leader = (await labStatus(lab.dir)).find((n) => n.state === 'leader');
      if (leader?.members.find((m) => m.id === 4)?.online !== false) throw new Error('still online');
    },
    10_000,
    'node4 offline',
  );
  let t = Date.now();
  await labRemoveNode(lab.dir, 'node4', { force: false });
  const deadMs = Date.now() - t;
  // node4 comes back with its old data: refused at the handshake, and told why.
  await labStart(lab.dir, 'node4');
  await eventually(
    async () => {
      const own = readFileSync(join(lab.dir, 'node4', 'datastore.log'), 'utf8');
      if (!/"message":"the peer refused this node".*node 4 is not a member of this cluster/.test(own))
        throw new Error('node4 not told');
    },
    15_000,
    'node4 refused with a clear message',
  );
  assert.match((await labStatus(lab.dir)).find((n) => n.name === 'node4')!.state, /^removed/);
  await labSignal(lab.dir, 'node4', 'SIGKILL');
  // A live voter, forced: a standby is needed to replace it, so add one first.
  await labAddNode(lab.dir);
  await eventually(
    async () => {
      const leader = (await labStatus(lab.dir)).find((n) => n.state === 'leader');
      if (leader?.members.find((m) => m.id === 5)?.role !== 'standby')
        throw new Error('node5 not a standby yet');
    },
    20_000,
    'node5 a standby',
  );
  const status = await labStatus(lab.dir);
  const voter = status.find((n) => n.role === 'voter' && n.state !== 'leader')!;
  t = Date.now();
  await labRemoveNode(lab.dir, voter.name, { force: true });
  const forcedMs = Date.now() - t;
  const leader = (await labStatus(lab.dir)).find((n) => n.state === 'leader')!;
  assert.equal(
    leader.members.filter((m) => m.role === 'voter').length,
    3,
    'still 3 voters: the standby took the seat first',
  );
  await lab.client().put('join/after-removal').value('3');
  console.log(
    `  dead member removed in ${deadMs} ms; live voter ${voter.name} replaced and removed in ${forcedMs} ms`,
  );
});

test.run();
