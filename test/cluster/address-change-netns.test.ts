// A node whose IP changes keeps working, by itself: two control-plane nodes as real processes,
// each in a network namespace of its own (10.213.57.0/24, a bridge this file creates), set up as
// a user does (agent init, agent run, add-node, join --start). Then node2's address is replaced
// inside its namespace and nobody is told: its cluster agent must notice, rewrite its args,
// re-issue its certificates, restart its datastore and bind again; node1 must follow.
import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { certsLayout } from '../../src/cluster/pki/layout.js';
import { resolvePaths } from '../../src/lib/paths.js';
import { NetnsNetwork } from '../lab/netns.js';
import { cliNodes, ROOT, until } from './cli-nodes.js';

const run = promisify(execFile);
const SUBNET = '10.213.57';
const PORTS = { agentPort: 25057, peerPort: 23857, clientPort: 23757 };
const NEW_ADDRESS = `${SUBNET}.12`;
const WAIT_MS = 90_000;

const net = new NetnsNetwork(SUBNET, 2, 'mk57');
const nodes = cliNodes({ name: 'address', subnet: SUBNET, ...PORTS, launcher: (n) => net.launcher(n - 1) });
const { home, address, argsFile, pidFile, cli, daemon, init, startAgent } = nodes;
const ownPids: number[] = [];

const certs = (n: number) => certsLayout(resolvePaths({ MICROK8S_HOME: home(n) }).certs);
const agentArgs = (n: number) => join(home(n), 'data', 'args', 'cluster-agent');
const agentLog = (n: number) => join(home(n), 'agent-test.log');
const readPid = (n: number) => Number(readFileSync(pidFile(n), 'utf8'));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** etcdctl over TLS from this (the host's) namespace, with node1's member certificate. */
async function etcdctl(host: string, ...args: string[]): Promise<{ ok: boolean; out: string }> {
  const l = certs(1);
  const auth = [
    `--cacert=${l.ca.certPath}`,
    `--cert=${l.leaves.peer.certPath}`,
    `--key=${l.leaves.peer.keyPath}`,
  ];
  try {
    const { stdout } = await run(
      'etcdctl',
      [`--endpoints=https://${host}:${PORTS.clientPort}`, '--command-timeout=3s', ...auth, ...args],
      { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' }, timeout: 15_000 },
    );
    return { ok: true, out: stdout };
  } catch (error) {
    return { ok: false, out: String((error as { stderr?: string }).stderr ?? error) };
  }
}

interface Member {
  ID: string;
  name: string;
  peerURLs?: string[];
}

async function members(host: string): Promise<Member[] | undefined> {
  const r = await etcdctl(host, 'member', 'list', '-w', 'json');
  return r.ok ? ((JSON.parse(r.out) as { members?: Member[] }).members ?? []) : undefined;
}

async function value(host: string, key: string): Promise<string | undefined> {
  const r = await etcdctl(host, 'get', key, '--print-value-only');
  return r.ok && r.out.trim() !== '' ? r.out.trim() : undefined;
}

/** The certificate the agent serves at host:port (what a joiner pins). */
function servedCertificate(host: string, port: number): Promise<X509Certificate | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, rejectUnauthorized: false, timeout: 3_000 }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      resolve(cert);
    });
    socket.on('error', () => resolve(undefined));
    socket.on('timeout', () => {
      socket.destroy();
      resolve(undefined);
    });
  });
}

const hasIp = (cert: X509Certificate | undefined, ip: string) =>
  (cert?.subjectAltName ?? '').split(', ').includes(`IP Address:${ip}`);
const fileCert = (path: string) => new X509Certificate(readFileSync(path));

/** Node 2's agent with its log kept (info level), so a failure shows what it saw. */
function startLoggedAgent(n: number): void {
  const out = openSync(agentLog(n), 'a');
  const child = spawn(
    'ip',
    ['netns', 'exec', net.namespace(n - 1), process.execPath, join(ROOT, 'bin', 'run.js'), 'agent', 'run'],
    {
      env: { ...process.env, MICROK8S_HOME: home(n), SNAP: '', MICROK8S_LOG_LEVEL: 'info' },
      stdio: ['ignore', out, out],
      detached: true,
    },
  );
  child.unref();
  assert.ok(child.pid);
  ownPids.push(child.pid!);
}

test.before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'commands', 'join.js')), 'run `npm run build` first');
  net.create();
  await init(1);
  await init(2);
  daemon(1, ['datastore', 'run', '--args-file', argsFile(1)]);
  await startAgent(1);
  const ready = await cli(1, ['status', '--wait-ready', '--timeout', '60', '--format', 'json']);
  assert.is(ready.code, 0, ready.stderr);
  const token = await cli(1, ['add-node', '--format', 'json']);
  assert.is(token.code, 0, token.stderr);
  const joinString = (JSON.parse(token.stdout) as { joinStrings: string[] }).joinStrings[0]!;
  const joined = await cli(2, ['join', joinString, '--hostname', 'node2', '--start', '--timeout', '90']);
  assert.is(joined.code, 0, joined.stderr);
  startLoggedAgent(2);
  await until('the agent of node2', 30_000, async () =>
    (await servedCertificate(address(2), PORTS.agentPort)) ? true : undefined,
  );
});

test.after(() => {
  for (const pid of ownPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  try {
    nodes.stopAll([1, 2]);
  } finally {
    net.destroy();
  }
});

test('both nodes serve: node1 lists node2 at its address, a write through node1 is read on node2', async () => {
  const list = await until('two members on node1', WAIT_MS, async () => {
    const m = await members(address(1));
    return m && m.length === 2 ? m : undefined;
  });
  assert.ok(
    list.some((m) => m.peerURLs?.some((u) => u.includes(`${address(2)}:${PORTS.peerPort}`))),
    JSON.stringify(list),
  );
  const check = await cli(2, ['refresh-address', '--check', '--json']);
  assert.is(check.code, 0, check.stderr);
  const { decision } = JSON.parse(check.stdout) as { decision: { kind: string; address: string } };
  assert.equal([decision.kind, decision.address], ['unchanged', address(2)]);
  assert.ok((await etcdctl(address(1), 'put', 'before-move', 'v1')).ok);
  assert.is(await until('the write on node2', WAIT_MS, () => value(address(2), 'before-move')), 'v1');
});

test('node2 gets a new IP: its agent follows, node1 follows, writes flow again', async () => {
  const oldPid = readPid(2);
  const oldPeerCert = fileCert(certs(2).leaves.peer.certPath);
  assert.ok(hasIp(oldPeerCert, address(2)));
  const started = Date.now();
  net.changeAddress(1, address(2), NEW_ADDRESS);
  try {
    await until('node2 to rewrite its datastore args', WAIT_MS, async () =>
      readFileSync(argsFile(2), 'utf8').includes(`--peer-listen=${NEW_ADDRESS}:${PORTS.peerPort}`)
        ? true
        : undefined,
    );
    const noticedMs = Date.now() - started;
    const args = readFileSync(argsFile(2), 'utf8');
    assert.match(args, `--client-tls-listen=${NEW_ADDRESS}:${PORTS.clientPort}`);
    assert.not.ok(args.includes(`=${address(2)}:`), args);
    assert.match(readFileSync(agentArgs(2), 'utf8'), `--bind=${NEW_ADDRESS}:${PORTS.agentPort}`);

    // Certificates: the peer and API server certificates name the new IP and no longer the old.
    for (const leaf of ['peer', 'server'] as const) {
      const cert = fileCert(certs(2).leaves[leaf].certPath);
      assert.ok(hasIp(cert, NEW_ADDRESS), `${leaf}: ${cert.subjectAltName}`);
      assert.not.ok(hasIp(cert, address(2)), `${leaf}: ${cert.subjectAltName}`);
    }
    assert.is.not(fileCert(certs(2).leaves.peer.certPath).serialNumber, oldPeerCert.serialNumber);

    // The datastore was restarted by pid: the old process is gone, a new one runs.
    const newPid = await until('a new datastore pid', WAIT_MS, async () => {
      const pid = readPid(2);
      return pid !== oldPid && alive(pid) ? pid : undefined;
    });
    assert.not.ok(alive(oldPid), `the old datastore ${oldPid} still runs`);

    // The agent serves again at the new address, with the re-issued certificate.
    const served = await until('the agent at the new address', WAIT_MS, () =>
      servedCertificate(NEW_ADDRESS, PORTS.agentPort),
    );
    assert.ok(hasIp(served, NEW_ADDRESS), served.subjectAltName);

    // node1 follows: its member list names node2 at the new address.
    const list = await until('node1 to list node2 at its new address', WAIT_MS, async () => {
      const m = await members(address(1));
      return m?.some((x) => x.peerURLs?.some((u) => u.includes(`${NEW_ADDRESS}:${PORTS.peerPort}`)))
        ? m
        : undefined;
    });
    assert.not.ok(
      list.some((x) => x.peerURLs?.some((u) => u.includes(`${address(2)}:`))),
      JSON.stringify(list),
    );
    const memberMs = Date.now() - started;

    // A write through node1 is read on node2 at its new address (TLS: the new SAN is checked).
    assert.ok((await etcdctl(address(1), 'put', 'after-move', 'v2')).ok);
    assert.is(await until('the write on node2', WAIT_MS, () => value(NEW_ADDRESS, 'after-move')), 'v2');
    assert.is(await value(NEW_ADDRESS, 'before-move'), 'v1');
    const servingMs = Date.now() - started;
    const check = await cli(2, ['refresh-address', '--check', '--json']);
    assert.is(check.code, 0, check.stderr);
    assert.match(check.stdout, `"address": "${NEW_ADDRESS}"`);
    console.log(
      `  IP change -> args rewritten ${noticedMs} ms, node1 lists the new address ${memberMs} ms, node2 serves a write from node1 ${servingMs} ms (datastore pid ${oldPid} -> ${newPid})`,
    );
  } catch (error) {
    if (existsSync(agentLog(2)))
      console.log(readFileSync(agentLog(2), 'utf8').split('\n').slice(-40).join('\n'));
    throw error;
  }
});

test.run();
