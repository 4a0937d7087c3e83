// `lab up` forms its cluster as users do: every node is set up alone (`agent init`), node 1's
// agent hands out add-node tokens and the others run `join` over HTTPS, then the planner promotes
// them. Each node is its own MICROK8S_HOME with two real processes (datastore, cluster agent);
// clients use TLS with a certificate from the cluster CA. `microk8s status` is read on every node.
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labAddNode, labMoveNode } from '../../src/lab/moves.js';
import { labSignal, labStatus } from '../../src/lab/processes.js';
import { readLab } from '../../src/lab/spec.js';
import { isProcessAlive } from '../../src/lib/process.js';
import { credentialsOf, eventually, startLab, type TestLab } from './helpers.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const CLI_TIMEOUT_MS = 60_000;
let lab: TestLab;
let upMs = 0;
let downed = false;

/** `microk8s status --format json` as the user of one lab node runs it. */
function nodeStatus(home: string): Promise<{ code: number | null; json: Record<string, unknown> }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, MICROK8S_HOME: home, FORCE_COLOR: '0' };
    delete env.SNAP;
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'run.js'), 'status', '--format', 'json'], {
      env,
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(out) as Record<string, unknown>;
      } catch {
        // left empty: the assertion below shows the exit code
      }
      resolve({ code, json });
    });
  });
}

test.before(async () => {
  const started = Date.now();
  lab = await startLab(3, '127.0.59.1', [], { formation: 'join', agentPort: 25059 });
  upMs = Date.now() - started;
  console.log(`  lab up (3 nodes through add-node/join, roles settled): ${upMs} ms`);
});
test.after(async () => {
  if (!downed) await lab?.down();
});

test('three nodes joined through the agents: high availability, and status agrees on every node', async () => {
  const spec = readLab(lab.dir);
  assert.is(spec.formation, 'join');
  assert.ok(spec.clientTls, 'the lab has a client certificate');
  for (const node of spec.nodes) {
    assert.ok(node.home && node.agentPid && isProcessAlive(node.agentPid), `${node.name} runs its agent`);
    const { code, json } = await nodeStatus(node.home!);
    assert.is(code, 0, `${node.name}: status exit code`);
    assert.is(json.highAvailability, true, `${node.name}: ${JSON.stringify(json)}`);
    const datastore = json.datastore as { voters: { id: number; address?: string }[]; standbys: unknown[] };
    const view = datastore.voters.map((m) => `${m.id}@${m.address ?? '?'}`).join(' ');
    assert.is(view, '1@127.0.59.1:2380 2@127.0.59.2:2380 3@127.0.59.3:2380', `${node.name}'s voters`);
    assert.is(datastore.standbys.length, 0);
  }
  const client = lab.client();
  await client.put('formation/hello').value('world');
  const far = lab.client(['node3']);
  assert.is(
    await eventually(async () => far.get('formation/hello').string(), 5_000, 'the key on node3'),
    'world',
  );
});

test('a fourth machine joins through add-node/join and becomes a standby', async () => {
  const started = Date.now();
  const node = await labAddNode(lab.dir);
  assert.is(node.name, 'node4');
  assert.ok(node.agentPid && isProcessAlive(node.agentPid));
  const ms = await eventually(
    async () => {
      const leader = (await labStatus(lab.dir)).find((n) => n.state === 'leader');
      const role = leader?.members.find((m) => m.id === node.id)?.role;
      if (role !== 'standby') throw new Error(`node4 is ${role ?? 'not a member'}`);
      return Date.now() - started;
    },
    20_000,
    'node4 a standby',
  );
  console.log(`  lab add (add-node + join + start): standby after ${ms} ms`);
});

test('a killed voter machine (datastore and agent) is replaced by the standby', async () => {
  const victim = readLab(lab.dir).nodes.find((n) => n.name === 'node3')!;
  await labSignal(lab.dir, 'node3', 'SIGKILL');
  assert.not.ok(isProcessAlive(victim.pid));
  assert.not.ok(isProcessAlive(victim.agentPid!));
  await eventually(
    async () => {
      const leader = (await labStatus(lab.dir)).find((n) => n.state === 'leader');
      const voters = leader?.members.filter((m) => m.role === 'voter').map((m) => m.id) ?? [];
      if (voters.join(',') !== '1,2,4') throw new Error(`voters ${voters.join(',')}`);
    },
    20_000,
    'node4 promoted in place of node3',
  );
});

test('a joined machine moves to a new address: certificates, args and peers follow', async () => {
  await labMoveNode(lab.dir, 'node2', '127.0.59.12');
  const node = readLab(lab.dir).nodes.find((n) => n.name === 'node2')!;
  const peerCert = new X509Certificate(readFileSync(join(node.home!, 'data', 'certs', 'peer.crt')));
  assert.ok(peerCert.subjectAltName?.includes('IP Address:127.0.59.12'), peerCert.subjectAltName);
  assert.not.ok(peerCert.subjectAltName?.includes('IP Address:127.0.59.2,'), peerCert.subjectAltName);
  assert.match(readFileSync(node.argsFile, 'utf8'), /^--peer-listen=127\.0\.59\.12:2380$/m);
  await eventually(
    async () => {
      const { json: now } = await nodeStatus(readLab(lab.dir).nodes[0]!.home!);
      const ds = now.datastore as {
        voters: { id: number; address?: string }[];
        standbys: { id: number; address?: string }[];
      };
      const two = [...ds.voters, ...ds.standbys].find((m) => m.id === 2);
      if (two?.address !== '127.0.59.12:2380') throw new Error(`node2 at ${two?.address}`);
    },
    20_000,
    'node1 sees node2 at its new address',
  );
  const client = lab.client(['node1']);
  await client.put('formation/moved').value('yes');
  const moved = new Etcd3({
    hosts: ['https://127.0.59.12:2379'],
    credentials: credentialsOf(readLab(lab.dir).clientTls!),
  });
  try {
    assert.is(
      await eventually(
        async () => moved.get('formation/moved').string(),
        10_000,
        'the key on the moved node',
      ),
      'yes',
    );
  } finally {
    moved.close();
  }
});

test('lab down stops every datastore and every agent', async () => {
  const spec = readLab(lab.dir);
  const pids = spec.nodes.flatMap((n) => [n.pid, n.agentPid ?? 0]).filter((p) => p > 0);
  await lab.down();
  downed = true;
  for (const pid of pids) assert.not.ok(isProcessAlive(pid), `pid ${pid} still runs`);
});

test.run();
