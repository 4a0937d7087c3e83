// A worker's API-server proxy, as a user gets it: node1 is a real control-plane node (agent
// init, datastore, agent run through the built CLI), node2 joins with `join --worker --start`
// and runs the proxy as a daemon; node3 joins as a worker without --start. Every node has its
// own 127.0.55.x address (this file's range).
//
// There is no kube-apiserver on this machine: that is the boundary that cannot exist here. A
// stand-in TLS server on node1's address and API port (16443), serving node1's API server
// certificate and asking for a client certificate, plays it. It greets with the client's
// certificate name, which shows that TLS goes end to end through the proxy.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkServerIdentity, connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseProxyFlags } from '../../src/cluster/apiserver-proxy/config.js';
import { parseKubeconfig } from '../../src/cluster/pki/kubeconfig.js';
import { certsLayout } from '../../src/cluster/pki/layout.js';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { isProcessAlive } from '../../src/lib/process.js';
import { cliNodes, expectError, ROOT, until } from './cli-nodes.js';

const nodes = cliNodes({
  name: 'worker-proxy',
  subnet: '127.0.55',
  agentPort: 25055,
  peerPort: 23855,
  clientPort: 23755,
});
const { home, address, argsFile, cli, daemon, init, startAgent } = nodes;
const API_PORT = 16443;
const PROXY = { host: address(2), port: API_PORT };
const WAIT_MS = 30_000;
const certsDir = (n: number) => join(home(n), 'data', 'certs');
const proxyArgs = (n: number) => join(home(n), 'data', 'args', 'apiserver-proxy');
const proxyPidFile = (n: number) => join(home(n), 'common', 'run', 'apiserver-proxy.pid');

let standIn: Server | undefined;

/** The stand-in API server on node1: TLS with node1's API server certificate, a client certificate required. */
async function startStandIn(): Promise<void> {
  const l = certsLayout(certsDir(1));
  const server = createServer(
    {
      cert: readFileSync(l.leaves.server.certPath),
      key: readFileSync(l.leaves.server.keyPath),
      ca: readFileSync(l.ca.certPath),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket) => {
      socket.on('error', () => socket.destroy());
      socket.end(
        `stand-in api server; client ${socket.getPeerX509Certificate()?.subject.replace(/\n/g, ',')}\n`,
      );
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address(1), port: API_PORT }, () => resolve());
  });
  standIn = server;
}

async function stopStandIn(): Promise<void> {
  const server = standIn;
  standIn = undefined;
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

/** A TLS connection through node2's proxy, as node2's kubelet makes it (its kubeconfig). */
function throughProxy(): Promise<{ greeting: string; error?: string }> {
  const kc = parseKubeconfig(readFileSync(certsLayout(certsDir(2)).kubeconfigs.kubelet, 'utf8'), 'kubelet');
  return new Promise((resolve) => {
    let greeting = '';
    const socket: TLSSocket = connect({
      ...PROXY,
      ca: kc.caPem,
      cert: kc.certPem,
      key: kc.keyPem,
      // The kubelet dials 127.0.0.1:16443; the test's proxy listens on node2's own address.
      checkServerIdentity: (_host, cert) => checkServerIdentity('127.0.0.1', cert),
      timeout: WAIT_MS,
    });
    socket.on('data', (d: Buffer) => (greeting += d.toString()));
    socket.on('timeout', () => socket.destroy(new Error('timeout')));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ greeting, error: error.code ?? error.message }),
    );
    socket.on('end', () => resolve({ greeting }));
  });
}

interface WorkerStatusJson {
  role: string;
  ready: boolean;
  apiserverProxy: { listen: string; upstreams: { upstream: string; healthy: boolean }[] };
  services: { name: string; pid: number; running: boolean }[];
}

async function workerStatus(): Promise<WorkerStatusJson> {
  const r = await cli(2, ['status', '--format', 'json']);
  assert.is(r.code, 0, r.stderr + r.stdout);
  return JSON.parse(r.stdout) as WorkerStatusJson;
}

async function joinString(): Promise<string> {
  const t = await cli(1, ['add-node', '--format', 'json', '--worker']);
  assert.is(t.code, 0, t.stderr);
  return (JSON.parse(t.stdout) as { joinStrings: string[] }).joinStrings[0]!;
}

test.before(async () => {
  assert.ok(
    readFileSync(join(ROOT, 'dist', 'commands', 'apiserver-proxy', 'run.js')),
    'run `npm run build` first',
  );
  await init(1);
  daemon(1, ['datastore', 'run', '--args-file', argsFile(1)]);
  const ready = await cli(1, ['status', '--wait-ready', '--timeout', '60']);
  assert.is(ready.code, 0, ready.stderr);
  await startAgent(1);
  await init(2);
  await init(3);
  await startStandIn();
});

test.after(async () => {
  await stopStandIn();
  for (const n of [2, 3]) {
    try {
      process.kill(Number(readFileSync(proxyPidFile(n), 'utf8')), 'SIGKILL');
    } catch {
      // never started, or gone
    }
  }
  nodes.stopAll([1, 2, 3]);
});

test('the args file is validated: every bad flag is MK_PROXY_CONFIG naming it', () => {
  const bad: [string, string[]][] = [
    ['listen', []],
    ['listen', ['localhost:1']],
    ['upstream', ['nope']],
    ['strategy', ['random']],
    ['fail-threshold', ['-1']],
    ['colour', ['red']],
  ];
  for (const [flag, values] of bad) {
    const flags = new Map<string, string[]>([
      ['listen', ['127.0.0.1:16443']],
      ['upstream', ['10.0.0.1:16443']],
    ]);
    if (values.length === 0) flags.delete(flag);
    else flags.set(flag, values);
    try {
      parseProxyFlags(flags);
      assert.unreachable(`--${flag}=${values} was accepted`);
    } catch (error) {
      assert.ok(isMicroK8sError(error, 'MK_PROXY_CONFIG'), String(error));
      assert.is(error.info.flag, flag);
    }
  }
});

test('join --worker --start: args file, kubeconfigs on the proxy, the proxy listening', async () => {
  const js = await joinString();
  const r = await cli(2, [
    'join',
    js,
    '--worker',
    '--hostname',
    'node2',
    '--start',
    '--proxy-listen',
    `${PROXY.host}:${PROXY.port}`,
    '--timeout',
    '60',
  ]);
  assert.is(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(`The API-server proxy listens on ${PROXY.host.replace(/\./g, '\\.')}:16443 \\(pid \\d+\\)`),
  );
  const args = readFileSync(proxyArgs(2), 'utf8');
  assert.match(args, /^--listen=127\.0\.55\.2:16443$/m);
  assert.match(args, /^--upstream=127\.0\.55\.1:16443$/m);
  assert.match(args, /^--local-address=127\.0\.55\.2$/m);
  for (const name of ['kubelet', 'proxy'] as const) {
    const kc = parseKubeconfig(readFileSync(certsLayout(certsDir(2)).kubeconfigs[name], 'utf8'), name);
    assert.is(kc.server, 'https://127.0.55.2:16443', `the ${name} kubeconfig names the proxy`);
  }
  assert.ok(isProcessAlive(Number(readFileSync(proxyPidFile(2), 'utf8'))), 'the proxy runs, by its pid file');
});

test('the proxy forwards a TLS connection to the control plane, end to end', async () => {
  const r = await throughProxy();
  assert.is(r.error, undefined);
  assert.match(r.greeting, /^stand-in api server; client .*CN=system:node:node2/);
});

test('status on the worker shows the proxy, its upstream healthy, the service running', async () => {
  const s = await workerStatus();
  assert.is(s.role, 'worker');
  assert.ok(s.ready);
  assert.is(s.apiserverProxy.listen, '127.0.55.2:16443');
  assert.equal(s.apiserverProxy.upstreams, [{ upstream: '127.0.55.1:16443', healthy: true }]);
  assert.ok(s.services.some((x) => x.name === 'apiserver-proxy' && x.running));
  const pretty = await cli(2, ['status']);
  assert.match(pretty.stdout, /node role: worker/);
  assert.match(pretty.stdout, /127\.0\.55\.1:16443 {2}healthy/);
});

test('the control plane goes away: the health checks mark it down, clients are closed', async () => {
  await stopStandIn();
  const down = await until('the upstream marked down', WAIT_MS, async () => {
    const s = await workerStatus();
    return s.apiserverProxy.upstreams[0]?.healthy === false ? s : undefined;
  });
  assert.not.ok(down.ready);
  const r = await throughProxy();
  assert.is(r.greeting, '', 'nothing answers for a down control plane');
  const wait = await cli(2, ['status', '--wait-ready', '--timeout', '1']);
  expectError(wait, 'MK_PROXY_NO_UPSTREAM', 3);
  // Back: one successful check brings it back.
  await startStandIn();
  await until('the upstream back', WAIT_MS, async () => ((await workerStatus()).ready ? true : undefined));
  assert.match((await throughProxy()).greeting, /^stand-in api server/);
});

test('a worker join without --start: the default endpoint 127.0.0.1:16443 and the command to run', async () => {
  const js = await joinString();
  const r = await cli(3, ['join', js, '--worker', '--hostname', 'node3']);
  assert.is(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /Start the API-server proxy \(127\.0\.0\.1:16443\) with:\n {2}.*apiserver-proxy run --args-file /,
  );
  assert.match(readFileSync(proxyArgs(3), 'utf8'), /^--listen=127\.0\.0\.1:16443$/m);
  const kc = parseKubeconfig(readFileSync(certsLayout(certsDir(3)).kubeconfigs.kubelet, 'utf8'), 'kubelet');
  assert.is(kc.server, 'https://127.0.0.1:16443');
  const s = await cli(3, ['status']);
  expectError(s, 'MK_NOT_RUNNING', 3);
});

test('apiserver-proxy run refuses a bad args file with MK_PROXY_CONFIG', async () => {
  const file = join(home(3), 'bad-proxy-args');
  writeFileSync(file, '--listen=127.0.55.3:16443\n--upstream=127.0.55.1\n');
  const r = await cli(3, ['apiserver-proxy', 'run', '--args-file', file]);
  expectError(r, 'MK_PROXY_CONFIG', 78);
  assert.match(r.stderr, /--upstream: expected HOST:PORT/);
});

test.run();
