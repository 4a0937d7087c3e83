// A worker join and refresh-certs on a running member, as a user runs them: the built CLI as
// child processes, one MICROK8S_HOME per node, every node on its own 127.0.54.x address (this
// file's range), real TLS everywhere. node1 is the cluster, node2 joins as a worker, node3 joins
// as a control-plane node and then refreshes its certificates.
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseKubeconfig } from '../../src/cluster/pki/kubeconfig.js';
import { certsLayout } from '../../src/cluster/pki/layout.js';
import { nodeIdFromCertificate } from '../../src/datastore/transport/identity.js';
import { isProcessAlive } from '../../src/lib/process.js';
import { agentPost, cliNodes, expectError, ROOT, type Run, until } from './cli-nodes.js';

const nodes = cliNodes({
  name: 'worker-certs',
  subnet: '127.0.54',
  agentPort: 25054,
  peerPort: 23854,
  clientPort: 23754,
});
const { home, address, argsFile, pidFile, cli, daemon, init, startAgent } = nodes;
const certsDir = (n: number) => join(home(n), 'data', 'certs');
const alive = isProcessAlive;

interface Member {
  id: number;
  online?: boolean;
}
interface Status {
  datastore: { voters: Member[]; standbys: Member[]; spares: Member[] };
  workers: { hostname: string; address: string }[];
}

async function status(n: number): Promise<Status> {
  const r = await cli(n, ['status', '--format', 'json']);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Status;
}

const members = (s: Status) =>
  [...s.datastore.voters, ...s.datastore.standbys, ...s.datastore.spares].map((m) => m.id).sort();

/** The datastore folder of a node: its args file's --data-dir. */
function dataDir(n: number): string {
  const m = /^--data-dir(?:=|\s+)(.+)$/m.exec(readFileSync(argsFile(n), 'utf8'));
  assert.ok(m, `no --data-dir in ${argsFile(n)}`);
  return m[1]!.trim();
}

function etcdctl(n: number, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      'etcdctl',
      [`--endpoints=unix://${join(dataDir(n), 'etcd.sock')}`, '--command-timeout=10s', ...args],
      { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 30_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error.code as number | undefined) ?? 1) : 0, stdout, stderr }),
    );
  });
}

const cert = (path: string) => new X509Certificate(readFileSync(path));
const clusterCa = () => cert(certsLayout(certsDir(1)).ca.certPath);

async function startDatastore(n: number): Promise<void> {
  const child = daemon(n, ['datastore', 'run', '--args-file', argsFile(n)]);
  // Only `join --start` writes the pid file: keep it naming the live process, never a stale pid.
  if (existsSync(pidFile(n))) writeFileSync(pidFile(n), `${child.pid}\n`);
  const r = await cli(n, ['status', '--wait-ready', '--timeout', '60', '--format', 'json']);
  assert.is(r.code, 0, r.stderr);
}

test.before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'commands', 'join.js')), 'run `npm run build` first');
  await init(1);
  await startDatastore(1);
  await startAgent(1);
  for (const n of [2, 3]) await init(n);
});

test.after(() => nodes.stopAll([2, 3]));

test('a worker joins: signed kubelet and proxy certificates, no datastore', async () => {
  const pretty = await cli(1, ['add-node', '--worker']);
  assert.is(pretty.code, 0, pretty.stderr);
  const line = /microk8s join (127\.0\.54\.1:25054\/[0-9a-f]{32}\/[0-9a-f]{32}) --worker/.exec(pretty.stdout);
  assert.ok(line, `no --worker line in: ${pretty.stdout}`);
  const r = await cli(2, ['join', line[1]!, '--worker', '--hostname', 'node2']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /as a worker; control plane: 127\.0\.54\.1/);

  const layout = certsLayout(certsDir(2));
  const ca = clusterCa();
  assert.is(cert(layout.ca.certPath).fingerprint256, ca.fingerprint256, "the worker holds the cluster's CA");
  const want = { kubelet: /CN=system:node:node2/, proxy: /CN=system:kube-proxy/ };
  for (const name of ['kubelet', 'proxy'] as const) {
    const kc = parseKubeconfig(readFileSync(layout.kubeconfigs[name], 'utf8'), name);
    const signed = new X509Certificate(kc.certPem);
    assert.ok(signed.verify(ca.publicKey), `the ${name} certificate chains to node1's CA`);
    assert.ok(signed.checkPrivateKey(createPrivateKey(kc.keyPem)), `the ${name} key is the worker's own`);
    assert.match(signed.subject, want[name]);
    assert.is(kc.caPem.trim(), readFileSync(certsLayout(certsDir(1)).ca.certPath, 'utf8').trim());
  }
  // The CA key and the datastore stay with the control plane.
  assert.not.ok(existsSync(layout.ca.keyPath), 'no CA key on a worker');
  assert.not.ok(existsSync(layout.leaves.peer.certPath), 'no datastore peer certificate on a worker');
  assert.not.ok(existsSync(pidFile(2)), 'no datastore started on a worker');
  assert.equal(members(await status(1)), [1], 'node1 still has one datastore member');
});

test('remove-node of the worker: the cluster forgets it; a second time it is unknown', async () => {
  // The admitting agent recorded the worker in the replicated keyspace.
  const listed = await etcdctl(1, ['get', '--prefix', '/microk8s/workers/', '--print-value-only']);
  assert.is(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`"address":"${address(2).replace(/\./g, '\\.')}"`));
  assert.equal(
    (await status(1)).workers.map((w) => `${w.hostname}@${w.address}`),
    [`node2@${address(2)}`],
    'status lists the worker',
  );
  const r = await cli(1, ['remove-node', address(2), '--timeout', '10']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /worker node2 \(127\.0\.54\.2\) is no longer part of the cluster/);
  const again = await cli(1, ['remove-node', 'node2', '--timeout', '10']);
  expectError(again, 'MK_INVALID_ARGUMENT', 4);
  assert.match(again.stderr, /is neither a member nor a worker of this cluster; members: node1/);
  assert.not.match(again.stderr, /\n\s+at /, 'no stack trace');
  const after = await status(1);
  assert.equal(members(after), [1], 'the datastore membership is untouched');
  assert.equal(after.workers, []);
});

let before: { server: string; peer: string; peerId: number | undefined };

test('node3 joins as a control-plane node: two members', async () => {
  const t = await cli(1, ['add-node', '--format', 'json']);
  assert.is(t.code, 0, t.stderr);
  const joinString = (JSON.parse(t.stdout) as { joinStrings: string[] }).joinStrings[0]!;
  const r = await cli(3, ['join', joinString, '--hostname', 'node3', '--start', '--timeout', '90']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /as node 2 /);
  await until('two members on node1', 60_000, async () => {
    const s = await status(1);
    return members(s).length === 2 ? true : undefined;
  });
  const l = certsLayout(certsDir(3));
  before = {
    server: cert(l.leaves.server.certPath).fingerprint256,
    peer: cert(l.leaves.peer.certPath).fingerprint256,
    peerId: nodeIdFromCertificate(cert(l.leaves.peer.certPath)),
  };
  assert.is(before.peerId, 2);
});

test('refresh-certs on node3: a backup, new certificates under the cluster CA, same node id', async () => {
  const r = await cli(3, ['refresh-certs']);
  assert.is(r.code, 0, r.stderr);
  const backups = readdirSync(join(home(3), 'data')).filter((name) => name.startsWith('certs-backup-'));
  assert.is(backups.length, 1, `one backup folder: ${backups.join(', ')}`);
  const backupLayout = certsLayout(join(home(3), 'data', backups[0]!));
  assert.is(
    cert(backupLayout.leaves.server.certPath).fingerprint256,
    before.server,
    'the backup is the old set',
  );

  const l = certsLayout(certsDir(3));
  const ca = clusterCa();
  assert.is(cert(l.ca.certPath).fingerprint256, ca.fingerprint256, 'the CA is kept');
  const server = cert(l.leaves.server.certPath);
  assert.is.not(server.fingerprint256, before.server, 'the server certificate was issued again');
  assert.ok(server.verify(ca.publicKey), 'the new server certificate chains to the cluster CA');
  const peer = cert(l.leaves.peer.certPath);
  assert.is.not(peer.fingerprint256, before.peer, 'the peer certificate was issued again');
  assert.ok(peer.verify(ca.publicKey), 'the new peer certificate chains to the cluster CA');
  assert.is(nodeIdFromCertificate(peer), 2, 'the peer certificate still names node 2');
});

test('the cluster keeps working: a write through node1, two members', async () => {
  const put = await etcdctl(1, ['put', 'refresh-certs-key', 'v1']);
  assert.is(put.code, 0, put.stderr);
  assert.match(put.stdout, /OK/);
  assert.equal(members(await status(1)), [1, 2]);
});

test('node3 restarted on its new certificates: it is back online and serves writes', async () => {
  const pid = Number(readFileSync(pidFile(3), 'utf8'));
  process.kill(pid, 'SIGTERM');
  await until('node3 datastore stopped', 30_000, async () => (alive(pid) ? undefined : true));
  await startDatastore(3);
  // A write through node3 reaches the leader over the peer link, on node3's new certificate.
  const put = await until('a write through node3', 60_000, async () => {
    const run = await etcdctl(3, ['put', 'refresh-certs-key', 'v2']);
    return run.code === 0 ? run : undefined;
  });
  assert.match(put.stdout, /OK/);
  const get = await etcdctl(1, ['get', 'refresh-certs-key', '--print-value-only']);
  assert.is(get.code, 0, get.stderr);
  assert.is(get.stdout.trim(), 'v2');
  assert.equal(members(await status(1)), [1, 2]);
});

/** POST /v1/remove on node1's agent, with node n's peer certificate (or none). */
function agentRemove(body: unknown, asNode?: number) {
  const layout = certsLayout(certsDir(1));
  const peer = asNode === undefined ? undefined : certsLayout(certsDir(asNode)).leaves.peer;
  const clientCert = peer ? { cert: readFileSync(peer.certPath), key: readFileSync(peer.keyPath) } : {};
  const ca = readFileSync(layout.ca.certPath);
  return agentPost({ host: address(1), port: 25054, path: '/v1/remove', ca }, body, clientCert);
}

test('the agent removes a member only for a member, and not a live one without force', async () => {
  const anonymous = await agentRemove({ node: 'node2' });
  assert.is(anonymous.status, 401);
  assert.is(anonymous.body.code, 'MK_AGENT_UNAUTHORIZED');
  const live = await agentRemove({ node: 'node2' }, 1);
  assert.is(live.status, 409, JSON.stringify(live.body));
  assert.is(live.body.code, 'MK_MEMBER_ALIVE');
  assert.equal(members(await status(1)), [1, 2]);
  const pid = Number(readFileSync(pidFile(3), 'utf8'));
  process.kill(pid, 'SIGKILL');
  const removed = await until('node 2 removed through the agent', 60_000, async () => {
    const r = await agentRemove({ node: 'node2' }, 1);
    return r.status === 200 ? r : undefined;
  });
  assert.is(removed.status, 200);
  assert.equal(members(await status(1)), [1]);
});

test.run();
