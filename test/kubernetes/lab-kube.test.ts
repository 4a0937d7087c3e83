/**
 * `microk8s lab up --formation kube`, the README's "run the product" command: three whole
 * Kubernetes nodes in network namespaces the lab creates, formed with add-node and join. Then
 * `lab status`, `lab kubectl`, and `lab down --purge`, which leaves no namespace, bridge or
 * process behind. (The checks of the cluster itself are in ha-cluster.test.ts.)
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { processesOf } from './scenario.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const dir = join(mkdtempSync(join(tmpdir(), 'mk8s-lab-kube-')), 'lab');
/** Hang guard: three nodes started one after the other on 2 cores. */
const UP_TIMEOUT_MS = 15 * 60_000;

function cli(
  args: string[],
  timeoutMs = 120_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'run.js'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

let tag = '';

test.after(async () => {
  if (existsSync(join(dir, 'kube-lab.json'))) await cli(['lab', 'down', '--purge', '--dir', dir], 300_000);
});

test('lab up --formation kube: three Ready nodes, high availability, with progress and hints', async () => {
  const r = await cli(['lab', 'up', '--formation', 'kube', '--nodes', '3', '--dir', dir], UP_TIMEOUT_MS);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, 'node2: add-node on node1, join, start');
  assert.match(r.stdout, 'high-availability: yes');
  for (const name of ['node1', 'node2', 'node3'])
    assert.match(r.stdout, new RegExp(`${name} .* voter.* Ready v1\\.36\\.3`));
  assert.match(r.stdout, 'npx microk8s lab kubectl get nodes');
  tag = (JSON.parse(readFileSync(join(dir, 'kube-lab.json'), 'utf8')) as { network: { tag: string } }).network
    .tag;
});

test('lab kubectl goes through a live node; lab status shows roles and Kubernetes', async () => {
  const nodes = await cli(['lab', 'kubectl', '--dir', dir, 'get', 'nodes', '-o', 'name']);
  assert.is(nodes.code, 0, nodes.stderr);
  assert.equal(nodes.stdout.trim().split('\n').sort(), ['node/node1', 'node/node2', 'node/node3']);
  const status = await cli(['lab', 'status', '--dir', dir, '--json']);
  assert.is(status.code, 0, status.stderr);
  const json = JSON.parse(status.stdout) as { highAvailability: boolean; nodes: { kubernetes: string }[] };
  assert.ok(json.highAvailability);
  assert.ok(
    json.nodes.every((n) => n.kubernetes.startsWith('Ready')),
    status.stdout,
  );
});

test('lab down --purge: no namespace, bridge, process or folder is left', async () => {
  const homes = [1, 2, 3].map((n) => join(dir, `node${n}`));
  const r = await cli(['lab', 'down', '--purge', '--dir', dir], 300_000);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, 'stopped 3 node(s)');
  assert.not.ok(existsSync(dir));
  assert.not.match(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), tag);
  assert.not.match(execFileSync('ip', ['link', 'show'], { encoding: 'utf8' }), `${tag}br`);
  for (const home of homes) assert.equal(processesOf(home), []);
});

test.run();
