// `microk8s configure` across a real two-node control plane, as a user runs it: the built CLI
// as child processes, one MICROK8S_HOME per node, every node on its own 127.0.56.x address
// (this file's range). node1 is set up with agent init, node2 joins with join --start; both run
// their agents. A cluster-wide change with --restart rolls over both datastores.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fetchClusterArgs } from '../../src/cluster/agent/cluster-args-follow.js';
import { requestServiceArgs } from '../../src/cluster/agent/configure.js';
import type { ClusterArgs } from '../../src/cluster/cluster-args.js';
import { certsLayout } from '../../src/cluster/pki/layout.js';
import { resolvePaths } from '../../src/lib/paths.js';
import { isProcessAlive } from '../../src/lib/process.js';
import { cliNodes, expectError, ROOT, type Run, until } from './cli-nodes.js';

const AGENT_PORT = 25056;
const nodes = cliNodes({
  name: 'configure',
  subnet: '127.0.56',
  agentPort: AGENT_PORT,
  peerPort: 23856,
  clientPort: 23756,
});
const { home, address, argsFile, pidFile, cli, daemon, init, startAgent } = nodes;
const pidOf = (n: number) => Number(readFileSync(pidFile(n), 'utf8'));

interface Result {
  node: string;
  ok: boolean;
  code?: string;
  message?: string;
  changed?: boolean;
  restart?: string;
  pid?: number;
}

function etcdctl(n: number, args: string[]): Promise<Run> {
  const dataDir = /^--data-dir=(.+)$/m.exec(readFileSync(argsFile(n), 'utf8'))![1]!;
  return new Promise((resolve) => {
    execFile(
      'etcdctl',
      [`--endpoints=unix://${join(dataDir, 'etcd.sock')}`, '--command-timeout=10s', ...args],
      { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }),
    );
  });
}

async function memberCount(n: number): Promise<number> {
  const r = await cli(n, ['status', '--wait-ready', '--timeout', '60', '--format', 'json']);
  assert.is(r.code, 0, r.stderr);
  const d = (JSON.parse(r.stdout) as { datastore: Record<string, unknown[]> }).datastore;
  return d.voters!.length + d.standbys!.length + d.spares!.length;
}

test.before(async () => {
  assert.ok(readFileSync(join(ROOT, 'dist', 'commands', 'configure.js')), 'run `npm run build` first');
  await init(1);
  const first = daemon(1, ['datastore', 'run', '--args-file', argsFile(1)]);
  // What a service manager (or `join --start`) keeps: the pid file a restart goes by.
  mkdirSync(dirname(pidFile(1)), { recursive: true });
  writeFileSync(pidFile(1), `${first.pid}\n`);
  assert.is((await cli(1, ['status', '--wait-ready', '--timeout', '60'])).code, 0);
  await startAgent(1);
  await init(2);
  const t = await cli(1, ['add-node', '--format', 'json']);
  const joinString = (JSON.parse(t.stdout) as { joinStrings: string[] }).joinStrings[0]!;
  const j = await cli(2, ['join', joinString, '--hostname', 'node2', '--start', '--timeout', '90']);
  assert.is(j.code, 0, j.stderr);
  await startAgent(2);
  await until('two members on node1', 60_000, async () => ((await memberCount(1)) === 2 ? true : undefined));
});

test.after(() => nodes.stopAll([1, 2]));

function withoutRevisions(args: ClusterArgs): ClusterArgs {
  return Object.fromEntries(
    Object.entries(args).map(([service, r]) => [service, { set: r.set, remove: r.remove }]),
  );
}

/** One request to node1's agent without a client certificate: its status and error code. */
function anonymousRequest(
  method: string,
  path: string,
  body?: object,
): Promise<{ status: number; code?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: address(1),
        port: AGENT_PORT,
        path,
        method,
        headers: { 'content-type': 'application/json' },
        ca: readFileSync(certsLayout(join(home(1), 'data', 'certs')).ca.certPath),
        checkServerIdentity: () => undefined,
        timeout: 30_000,
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, code: JSON.parse(text).code }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

test('a request without a member certificate: 401 MK_AGENT_UNAUTHORIZED, nothing changed', async () => {
  const before = readFileSync(argsFile(1), 'utf8');
  const answer = await anonymousRequest('POST', '/v1/configure', {
    service: 'datastore',
    set: { 'snapshot-entries': '7' },
    propagate: true,
  });
  assert.equal(answer, { status: 401, code: 'MK_AGENT_UNAUTHORIZED' });
  assert.is(readFileSync(argsFile(1), 'utf8'), before);
});

test('a bad flag is refused by the agent with its code before any node changes', async () => {
  const r = await cli(1, ['configure', 'datastore', '--set', 'Snapshot Entries=1']);
  expectError(r, 'MK_SERVICE_BAD_FLAG', 4);
  assert.not.match(readFileSync(argsFile(1), 'utf8'), /Snapshot/);
});

test('--local changes this node only and restarts nothing', async () => {
  const pids = [pidOf(1), pidOf(2)];
  const r = await cli(1, ['configure', 'datastore', '--set', 'compaction-lag=500', '--local', '--json']);
  assert.is(r.code, 0, r.stderr);
  const results = (JSON.parse(r.stdout) as { results: Result[] }).results;
  assert.equal(
    results.map((x) => [x.node, x.ok, x.changed]),
    [['node1', true, true]],
  );
  assert.match(readFileSync(argsFile(1), 'utf8'), /^--compaction-lag=500$/m);
  assert.not.match(readFileSync(argsFile(2), 'utf8'), /compaction-lag/);
  assert.equal([pidOf(1), pidOf(2)], pids);
});

test('cluster-wide --set with --restart: both args files, both datastores restarted, the cluster works', async () => {
  const old = [pidOf(1), pidOf(2)];
  const r = await cli(1, ['configure', 'datastore', '--set', 'snapshot-entries=5000', '--restart', '--json']);
  assert.is(r.code, 0, r.stderr + r.stdout);
  const results = (JSON.parse(r.stdout) as { results: Result[] }).results;
  assert.equal(
    results.map((x) => [x.node, x.ok, x.restart]),
    [
      ['node1', true, 'restarted'],
      ['node2', true, 'restarted'],
    ],
  );
  for (const n of [1, 2]) {
    assert.match(readFileSync(argsFile(n), 'utf8'), /^--snapshot-entries=5000$/m, `node${n}'s args file`);
    assert.is.not(pidOf(n), old[n - 1], `node${n}'s datastore has a new pid`);
    assert.is(pidOf(n), results[n - 1]!.pid);
    assert.ok(isProcessAlive(pidOf(n)));
    assert.not.ok(isProcessAlive(old[n - 1]!), `node${n}'s old datastore is gone`);
  }
  assert.is(await memberCount(1), 2);
  const put = await until('a write through node2', 60_000, async () => {
    const run = await etcdctl(2, ['put', 'configure-key', 'v1']);
    return run.code === 0 ? run : undefined;
  });
  assert.match(put.stdout, /OK/);
  const get = await etcdctl(1, ['get', 'configure-key', '--print-value-only']);
  assert.is(get.stdout.trim(), 'v1');
});

test('a change the datastore cannot start with is rolled back on the first node; the roll stops there', async () => {
  const before = [readFileSync(argsFile(1), 'utf8'), readFileSync(argsFile(2), 'utf8')];
  // tick-ms below its minimum: the flag is well formed, the daemon refuses it at start.
  const r = await cli(1, ['configure', 'datastore', '--set', 'tick-ms=1', '--restart', '--json']);
  assert.is(r.code, 1, r.stderr + r.stdout);
  const results = (JSON.parse(r.stdout) as { results: Result[] }).results;
  assert.equal(
    results.map((x) => [x.node, x.ok, x.code]),
    [
      ['node1', false, 'MK_INVALID_CONFIG'],
      ['node2', false, 'MK_CONFIGURE_SKIPPED'],
    ],
  );
  assert.match(results[0]!.message ?? '', /previous args were restored and the service restarted on them/);
  assert.equal([readFileSync(argsFile(1), 'utf8'), readFileSync(argsFile(2), 'utf8')], before);
  assert.ok(isProcessAlive(pidOf(1)), "node1's datastore runs again on its previous args");
  assert.is(await memberCount(1), 2);
});

test("a datastore that died on a bad flag is repaired with configure --local and this node's certificate", async () => {
  const good = readFileSync(argsFile(1), 'utf8');
  writeFileSync(argsFile(1), `${good}--tick-ms=1\n`);
  process.kill(pidOf(1), 'SIGKILL');
  await until("node1's datastore gone", 10_000, async () => (isProcessAlive(pidOf(1)) ? undefined : true));
  const r = await cli(1, ['configure', 'datastore', '--remove', 'tick-ms', '--restart', '--local', '--json']);
  assert.is(r.code, 0, r.stderr + r.stdout);
  const results = (JSON.parse(r.stdout) as { results: Result[] }).results;
  assert.equal(
    results.map((x) => [x.node, x.ok, x.restart]),
    [['node1', true, 'restarted']],
  );
  assert.is(readFileSync(argsFile(1), 'utf8'), good);
  assert.ok(isProcessAlive(pidOf(1)));
  assert.is(await memberCount(1), 2);
});

test("a cluster-wide kubelet change is recorded for the workers; every member's args read back through the agents", async () => {
  const r = await cli(1, ['configure', 'kubelet', '--set', 'cluster-domain=example.test', '--json']);
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.is((JSON.parse(r.stdout) as { recorded?: boolean }).recorded, true);
  // Read back as a worker's proxy and a starting kubelet read it (node2's own datastore).
  const args = await fetchClusterArgs(resolvePaths({ MICROK8S_HOME: home(2) }));
  assert.equal(withoutRevisions(args), {
    kubelet: { set: { 'cluster-domain': 'example.test' }, remove: [] },
  });
  assert.match(args.kubelet?.revision ?? '', /^\d+$/);
  const removed = await cli(2, ['configure', 'kubelet', '--remove', 'cluster-domain', '--json']);
  assert.is(removed.code, 0, removed.stderr + removed.stdout);
  assert.equal(withoutRevisions(await fetchClusterArgs(resolvePaths({ MICROK8S_HOME: home(1) }))), {
    kubelet: { set: {}, remove: ['cluster-domain'] },
  });
  // A datastore flag is not followed by workers: nothing recorded.
  const ds = await cli(1, ['configure', 'datastore', '--set', 'snapshot-entries=5000', '--json']);
  assert.is((JSON.parse(ds.stdout) as { recorded?: boolean }).recorded, undefined);
  const read = await requestServiceArgs(resolvePaths({ MICROK8S_HOME: home(1) }), {
    service: 'datastore',
    all: true,
  });
  assert.equal(
    read.nodes.map((n) => [n.node, n.address, n.flags['snapshot-entries']]),
    [
      ['node1', address(1), ['5000']],
      ['node2', address(2), ['5000']],
    ],
  );
});

test('without a client certificate: the cluster args and service args are refused (401)', async () => {
  const unauthorized = { status: 401, code: 'MK_AGENT_UNAUTHORIZED' };
  assert.equal(await anonymousRequest('GET', '/v1/cluster-args'), unauthorized);
  assert.equal(
    await anonymousRequest('POST', '/v1/service-args', { service: 'kube-apiserver', all: true }),
    unauthorized,
  );
});

test('the pretty output: one line per node', async () => {
  const r = await cli(2, ['configure', 'datastore', '--set', 'snapshot-entries=5000']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^node2 \(127\.0\.56\.2\): args unchanged$/m);
  assert.match(r.stdout, /^node1 \(127\.0\.56\.1\): args unchanged$/m);
});

test.run();
