// The trust model under attack, as a user (or an attacker holding a worker's files) runs it: the
// built CLI as child processes, one MICROK8S_HOME per node, every node on its own 127.0.61.x
// address (this file's range), real TLS everywhere. node1 is the cluster; node2 joins as a
// control-plane node; node3 is a worker; node4 tries what a token holder should not get, then
// joins as a control-plane node after node2 was removed.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createWorkerRequest } from '../../src/cluster/agent/certs.js';
import { parseKubeconfig } from '../../src/cluster/pki/kubeconfig.js';
import { certsLayout } from '../../src/cluster/pki/layout.js';
import { agentPost, cliNodes, expectError, ROOT, type Run, until } from './cli-nodes.js';

const AGENT_PORT = 25061;
const CLIENT_PORT = 23761;
const nodes = cliNodes({
  name: 'trust',
  subnet: '127.0.61',
  agentPort: AGENT_PORT,
  peerPort: 23861,
  clientPort: CLIENT_PORT,
});
const { home, address, argsFile, pidFile, cli, daemon, init } = nodes;
const certsDir = (n: number) => join(home(n), 'data', 'certs');
const scratch = mkdtempSync(join(tmpdir(), 'mk8s-trust-pems-'));

interface Token {
  token: string;
  joinStrings: string[];
  role: string;
  singleUse: boolean;
  expiresAt: string;
}

async function addNode(extra: string[] = []): Promise<Token> {
  const r = await cli(1, ['add-node', '--format', 'json', ...extra]);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Token;
}

function joinAs(n: number, line: string, extra: string[] = []): Promise<Run> {
  return cli(n, ['join', line, '--hostname', `node${n}`, ...extra]);
}

interface TlsFiles {
  cert: string;
  key: string;
}

/** A worker's kubelet identity as files (the kubeconfig embeds them). */
function kubeletFiles(n: number): TlsFiles {
  const kc = parseKubeconfig(readFileSync(certsLayout(certsDir(n)).kubeconfigs.kubelet, 'utf8'), 'kubelet');
  const cert = join(scratch, `kubelet-${n}.crt`);
  const key = join(scratch, `kubelet-${n}.key`);
  writeFileSync(cert, kc.certPem);
  writeFileSync(key, kc.keyPem, { mode: 0o600 });
  return { cert, key };
}

const leaf = (n: number, name: 'datastore-client' | 'peer'): TlsFiles => {
  const files = certsLayout(certsDir(n)).leaves[name];
  return { cert: files.certPath, key: files.keyPath };
};

/** etcdctl against node n's etcd TLS port with a client identity. */
function etcdctl(n: number, identity: TlsFiles, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      'etcdctl',
      [
        `--endpoints=https://${address(n)}:${CLIENT_PORT}`,
        `--cacert=${certsLayout(certsDir(1)).ca.certPath}`,
        `--cert=${identity.cert}`,
        `--key=${identity.key}`,
        '--command-timeout=10s',
        '--dial-timeout=5s',
        ...args,
      ],
      { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 30_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error.code as number | undefined) ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** POST /v1/sign-csr on node1's agent (a worker renewing its certificates) with `identity`. */
async function renew(identity: TlsFiles) {
  const request = await createWorkerRequest(scratch, 'kubelet', 'node3');
  const ca = readFileSync(certsLayout(certsDir(1)).ca.certPath);
  return agentPost(
    { host: address(1), port: AGENT_PORT, path: '/v1/sign-csr', ca },
    { csrs: { kubelet: request.csr } },
    { cert: readFileSync(identity.cert), key: readFileSync(identity.key) },
  );
}

const fingerprint = (path: string) => new X509Certificate(readFileSync(path)).fingerprint256;
let agent1: number | undefined;

async function startAgent1(): Promise<void> {
  agent1 = daemon(1, ['agent', 'run']).pid;
  await until('the agent of node1', 30_000, async () => {
    const r = await cli(1, ['add-node', '--list']);
    return r.code === 0 ? true : undefined;
  });
}

test.before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'commands', 'join.js')), 'run `npm run build` first');
  await init(1);
  daemon(1, ['datastore', 'run', '--args-file', argsFile(1)]);
  const r = await cli(1, ['status', '--wait-ready', '--timeout', '60', '--format', 'json']);
  assert.is(r.code, 0, r.stderr);
  await startAgent1();
  for (const n of [2, 3, 4]) await init(n);
});

test.after(() => {
  nodes.stopAll([2, 3, 4]);
  rmSync(scratch, { recursive: true, force: true });
});

test('a worker token: a control-plane join with it is refused before any key is sent', async () => {
  const t = await addNode(['--worker']);
  assert.is(t.role, 'worker');
  assert.ok(t.singleUse, 'single use');
  const life = Date.parse(t.expiresAt) - Date.now();
  assert.ok(life > 0 && life <= 3600_000, `a single-use token lives an hour at most (${t.expiresAt})`);
  const ownCa = fingerprint(certsLayout(certsDir(2)).ca.certPath);
  const r = await joinAs(2, t.joinStrings[0]!);
  expectError(r, 'MK_JOIN_TOKEN_ROLE', 4);
  assert.is(fingerprint(certsLayout(certsDir(2)).ca.certPath), ownCa, "node2 did not get the cluster's CA");
  // Refused before anything was consumed: the same token still admits a worker.
  const worker = await joinAs(3, t.joinStrings[0]!, ['--worker']);
  assert.is(worker.code, 0, worker.stderr);
  assert.not.ok(existsSync(certsLayout(certsDir(3)).ca.keyPath), 'no CA key on the worker');
});

test('a worker cannot take the name of an existing worker or control-plane node', async () => {
  const t = await addNode(['--worker', '--token-ttl', '600']);
  for (const name of ['node3', 'node1']) {
    const r = await cli(4, ['join', t.joinStrings[0]!, '--worker', '--hostname', name]);
    expectError(r, 'MK_JOIN_NAME_TAKEN', 4);
    assert.match(r.stderr, new RegExp(`the name ${name} belongs to`));
  }
  const listed = await cli(1, ['add-node', '--list']);
  assert.match(listed.stdout, /worker\s+reusable\s+usable/, 'the refused joins left the token usable');
});

test("the etcd TLS port refuses a worker's kubelet certificate; the datastore identity and members work", async () => {
  const refused = await etcdctl(1, kubeletFiles(3), ['get', 'x']);
  assert.is.not(refused.code, 0, 'the kubelet certificate is refused');
  assert.match(refused.stderr, /PermissionDenied|permission denied/i);
  assert.match(refused.stderr, /not a datastore identity/);
  const put = await etcdctl(1, leaf(1, 'datastore-client'), ['put', 'trust-key', 'v1']);
  assert.is(put.code, 0, put.stderr);
  // node2 joins as a control-plane node (its line read from a file, not argv) and serves too.
  const t = await addNode();
  assert.is(t.role, 'control-plane');
  const file = join(scratch, 'join-line');
  writeFileSync(file, `microk8s join ${t.joinStrings[0]!}\n`, { mode: 0o600 });
  const r = await cli(2, ['join', '--token-file', file, '--hostname', 'node2', '--start', '--timeout', '90']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /as node 2 /);
  const viaMember = await until('a read through node2 with its member identity', 60_000, async () => {
    const run = await etcdctl(2, leaf(2, 'peer'), ['get', 'trust-key', '--print-value-only']);
    return run.code === 0 ? run : undefined;
  });
  assert.is(viaMember.stdout.trim(), 'v1');
  const members = await etcdctl(1, leaf(1, 'datastore-client'), ['member', 'list']);
  assert.is(members.code, 0, members.stderr);
  assert.is(members.stdout.trim().split('\n').length, 2, members.stdout);
});

test('an expired token and a revoked token are refused; add-node --list shows what is outstanding', async () => {
  const short = await addNode(['--worker', '--token-ttl', '1']);
  await sleep(1500);
  expectError(await joinAs(4, short.joinStrings[0]!, ['--worker']), 'MK_JOIN_TOKEN_EXPIRED', 4);
  const t = await addNode(['--worker']);
  const list = await cli(1, ['add-node', '--list', '--format', 'json']);
  assert.is(list.code, 0, list.stderr);
  const tokens = (JSON.parse(list.stdout) as { tokens: { id: string; role: string; state: string }[] })
    .tokens;
  assert.ok(
    tokens.some((k) => k.state === 'expired' && k.role === 'worker'),
    'the expired token is listed',
  );
  const usable = tokens.filter((k) => k.state === 'usable');
  assert.ok(usable.length >= 2, `the outstanding tokens are listed: ${list.stdout}`);
  const revoked = await cli(1, ['add-node', '--revoke', t.token]);
  assert.is(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, /Revoked 1 token/);
  expectError(await joinAs(4, t.joinStrings[0]!, ['--worker']), 'MK_JOIN_TOKEN_INVALID', 4);
  const all = await cli(1, ['add-node', '--revoke', '--all']);
  assert.is(all.code, 0, all.stderr);
  const after = await cli(1, ['add-node', '--list', '--format', 'json']);
  assert.not.ok(
    (JSON.parse(after.stdout) as { tokens: { state: string }[] }).tokens.some((k) => k.state === 'usable'),
    'no usable token after --revoke --all',
  );
});

test('join refuses a short pin, --skip-verify, and never sends the token then', async () => {
  const t = await addNode(['--worker']);
  const [hostPort, token, hash] = t.joinStrings[0]!.split('/');
  const shortLine = `${hostPort}/${token}/${hash!.slice(0, 16)}`;
  expectError(await joinAs(4, shortLine, ['--worker']), 'MK_JOIN_SHORT_PIN', 4);
  expectError(await joinAs(4, t.joinStrings[0]!, ['--worker', '--skip-verify']), 'MK_JOIN_NO_CERT_HASH', 4);
  const list = await cli(1, ['add-node', '--list']);
  assert.match(list.stdout, /worker\s+once\s+usable/, 'the token was never presented');
});

test('a worker renews its certificates; remove-node revokes them: the agent and the datastore refuse them', async () => {
  const before = new X509Certificate(readFileSync(kubeletFiles(3).cert));
  const refreshed = await cli(3, ['refresh-certs']);
  assert.is(refreshed.code, 0, refreshed.stderr);
  assert.match(refreshed.stdout, /Renewed kubelet, proxy at the cluster agent 127\.0\.61\.1:25061/);
  const kubelet = kubeletFiles(3);
  const after = new X509Certificate(readFileSync(kubelet.cert));
  assert.is.not(after.serialNumber, before.serialNumber, 'a new kubelet certificate');
  assert.is(after.subject, before.subject, 'for the same identity');
  assert.ok(after.verify(new X509Certificate(readFileSync(certsLayout(certsDir(1)).ca.certPath)).publicKey));
  const days = (Date.parse(after.validTo) - Date.now()) / 86_400_000;
  assert.ok(days > 80 && days <= 90, `worker certificates live 90 days (${days.toFixed(1)})`);
  const r = await cli(1, ['remove-node', 'node3', '--timeout', '10']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /worker node3 .* 4 certificate\(s\) revoked/);
  const agent = await renew(kubelet);
  assert.is(agent.status, 401, JSON.stringify(agent.body));
  assert.is(agent.body.code, 'MK_CERT_REVOKED');
  expectError(await cli(3, ['refresh-certs']), 'MK_CERT_REVOKED', 4);
  const datastore = await etcdctl(1, kubelet, ['get', 'x']);
  assert.is.not(datastore.code, 0);
  assert.match(datastore.stderr, /was revoked at/);
});

test('member ids are never reused: after node2 is removed, the next member is node 3', async () => {
  process.kill(Number(readFileSync(pidFile(2), 'utf8')), 'SIGKILL');
  const removed = await until('node2 removed', 60_000, async () => {
    const run = await cli(1, ['remove-node', 'node2', '--force', '--timeout', '20']);
    return run.code === 0 ? run : undefined;
  });
  assert.match(removed.stdout, /node2 is no longer a member/);
  // A fresh agent process: nothing in its memory remembers id 2.
  if (agent1 !== undefined) process.kill(agent1, 'SIGTERM');
  await sleep(500);
  await startAgent1();
  const t = await addNode();
  const r = await cli(4, ['join', t.joinStrings[0]!, '--hostname', 'node4', '--start', '--timeout', '90']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /as node 3 /);
});

test.run();
