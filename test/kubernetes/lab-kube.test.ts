/**
 * `microk8s lab up` (the Kubernetes formation by default), the README's "run the product" command: three whole
 * Kubernetes nodes and a worker in network namespaces the lab creates, formed with add-node and join. Then
 * `lab status`, `lab kubectl`, and `lab down --purge`, which leaves no namespace, bridge or
 * process behind. (The checks of the cluster itself are in ha-cluster.test.ts.)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from './node-cli.js';
import { processesOf } from './scenario.js';

const parent = mkdtempSync(join(tmpdir(), 'mk8s-lab-kube-'));
const dir = join(parent, 'lab');
/** Hang guard: three nodes started one after the other on 2 cores. */
const UP_TIMEOUT_MS = 15 * 60_000;

function cli(args: string[], timeoutMs = 120_000) {
  return runCli(args, { timeoutMs });
}

let tag = '';

test.after(async () => {
  if (existsSync(join(dir, 'kube-lab.json'))) await cli(['lab', 'down', '--purge', '--dir', dir], 300_000);
  rmSync(parent, { recursive: true, force: true });
});

test('lab up: three Ready nodes, high availability, with progress and hints', async () => {
  const r = await cli(['lab', 'up', '--nodes', '3', '--workers', '1', '--dir', dir], UP_TIMEOUT_MS);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, 'node2: add-node on node1, join, start');
  assert.match(r.stdout, 'high-availability: yes');
  for (const name of ['node1', 'node2', 'node3'])
    assert.match(r.stdout, new RegExp(`${name} .* voter.* Ready v1\\.36\\.3`));
  assert.match(r.stdout, /worker1 .* worker .* Ready v1\.36\.3/);
  assert.match(r.stdout, 'npx microk8s lab kubectl get nodes');
  tag = (JSON.parse(readFileSync(join(dir, 'kube-lab.json'), 'utf8')) as { network: { tag: string } }).network
    .tag;
});

test('lab kubectl goes through a live node; lab status shows roles and Kubernetes', async () => {
  const nodes = await cli(['lab', 'kubectl', '--dir', dir, 'get', 'nodes', '-o', 'name']);
  assert.is(nodes.code, 0, nodes.stderr);
  assert.equal(nodes.stdout.trim().split('\n').sort(), [
    'node/node1',
    'node/node2',
    'node/node3',
    'node/worker1',
  ]);
  const status = await cli(['lab', 'status', '--dir', dir, '--json']);
  assert.is(status.code, 0, status.stderr);
  const json = JSON.parse(status.stdout) as { highAvailability: boolean; nodes: { kubernetes: string }[] };
  assert.ok(json.highAvailability);
  assert.ok(
    json.nodes.every((n) => n.kubernetes.startsWith('Ready')),
    status.stdout,
  );
});

test('lab partition and lab heal: the CLI cuts a node off, status says so, heal plugs it back', async () => {
  const cut = await cli(['lab', 'partition', 'node3', '--dir', dir]);
  assert.is(cut.code, 0, cut.stderr);
  assert.match(cut.stdout, 'cut off: node3; the rest: node1, node2, worker1');
  const status = await cli(['lab', 'status', '--dir', dir]);
  assert.match(status.stdout, 'partition: node3 cut off from the rest');
  assert.match(status.stdout, /node3 .*\[cut off\]/);
  const healed = await cli(['lab', 'heal', '--dir', dir]);
  assert.is(healed.code, 0, healed.stderr);
  assert.match(healed.stdout, 'healed: node3');
  assert.not.match((await cli(['lab', 'status', '--dir', dir])).stdout, 'cut off');
  assert.match((await cli(['lab', 'heal', '--dir', dir])).stdout, 'no partition');
  const unknown = await cli(['lab', 'partition', 'node9', '--dir', dir]);
  assert.is(unknown.code, 4, unknown.stdout);
  assert.match(unknown.stderr, 'no node node9');
});

test('lab kill: a crash of node1; the others serve writes; lab start brings it back as a voter', async () => {
  const killed = await cli(['lab', 'kill', 'node1', '--dir', dir]);
  assert.is(killed.code, 0, killed.stderr);
  // node1 held the datastore leader: writes are refused ("no leader") until the others elect one.
  const deadline0 = Date.now() + 60_000; // a hang guard
  let write = await cli(['lab', 'kubectl', '--dir', dir, 'create', 'configmap', 'while-node1-is-down']);
  while (write.code !== 0 && Date.now() < deadline0) {
    assert.match(write.stderr, /no leader|leader failure|connection refused|timeout|Timeout|timed out|EOF/);
    await sleep(500);
    write = await cli(['lab', 'kubectl', '--dir', dir, 'create', 'configmap', 'while-node1-is-down']);
  }
  assert.is(write.code, 0, write.stderr);
  const started = await cli(['lab', 'start', 'node1', '--dir', dir], 360_000);
  assert.is(started.code, 0, started.stderr);
  const deadline = Date.now() + 300_000; // a hang guard
  let status = '';
  while (Date.now() < deadline) {
    status = (await cli(['lab', 'status', '--dir', dir])).stdout;
    if (/node1 .* running .* voter/.test(status)) break;
    await sleep(2_000);
  }
  assert.match(status, /node1 .* running .* voter/);
});

test('lab down --purge: no namespace, bridge, process or folder is left', async () => {
  const homes = ['node1', 'node2', 'node3', 'worker1'].map((n) => join(dir, n));
  const r = await cli(['lab', 'down', '--purge', '--dir', dir], 300_000);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, 'stopped 4 node(s)');
  assert.not.ok(existsSync(dir));
  assert.not.match(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), tag);
  assert.not.match(execFileSync('ip', ['link', 'show'], { encoding: 'utf8' }), `${tag}br`);
  for (const home of homes) assert.equal(processesOf(home), []);
});

test.run();
