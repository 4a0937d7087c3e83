/**
 * Addons across a real cluster (issue 17's multi-node parts): two control-plane nodes and a
 * worker, each in a network namespace of its own on a bridge (src/lab/kube/network.ts, on
 * 10.201.30.0/24), formed as users form them (start, add-node, join [--worker], start).
 * - dns enabled on node1 reaches the worker: its kubelet gets --cluster-dns/--cluster-domain
 *   (workers run no agent: they follow the cluster-wide record, src/cluster/cluster-args.ts) and
 *   a pod on the worker resolves the API's cluster name; a worker that joins afterwards starts
 *   with them; disable takes them away again;
 * - two enables on two nodes at once run one after the other under the cluster lock (the second
 *   started while the first holds it: it waits, naming the holder);
 * - rbac: enabled on a fresh cluster; an unprivileged service account is refused (403) a list of
 *   secrets while what its Role allows works; disable (AlwaysAllow) allows it, enable refuses it
 *   again; each roll restarts the API servers one at a time, never two down together (every
 *   API server's /readyz polled from outside throughout); a control-plane node that joins while
 *   it is disabled starts with AlwaysAllow, as the others run.
 * Needs root, cgroups and the upstream build with the addon images; without them it fails.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADDON_LOCK_KEY } from '../../src/addons/lock.js';
import { agentContext, readDatastoreConfig } from '../../src/cluster/agent/context.js';
import { etcdSocketPath } from '../../src/cluster/agent/datastore-args.js';
import { localEtcdCall } from '../../src/cluster/local-etcd.js';
import { parseKubeconfig } from '../../src/cluster/pki/kubeconfig.js';
import { certsLayout } from '../../src/cluster/pki/layout.js';
import {
  addressOf,
  createLabNetwork,
  destroyLabNetwork,
  type LabNetworkSpec,
  launcherOf,
} from '../../src/lab/kube/network.js';
import { resolvePaths } from '../../src/lib/paths.js';
import { KubeNode, type Run, until } from '../kubernetes/node-cli.js';
import { busyboxImage, WAITS, waitReady } from '../kubernetes/scenario.js';

const CONTROL_PLANE = 2;
const net: LabNetworkSpec = {
  tag: `mk8a${randomBytes(2).toString('hex')}`,
  subnet: '10.201.30',
  size: CONTROL_PLANE + 3,
  controlPlane: CONTROL_PLANE,
  hostnames: ['node1', 'node2', 'worker1', 'worker2', 'node3'],
};
const address = (i: number) => addressOf(net, i);
const nodes = net.hostnames!.map((name, i) => new KubeNode(`mk8s-addons-${name}`, launcherOf(net, i)));
const [node1, node2, worker1, worker2, node3] = nodes as [KubeNode, KubeNode, KubeNode, KubeNode, KubeNode];
/** Hang guard of one enable or disable (image import, rollouts, rolling restarts). */
const ADDON_COMMAND_MS = 8 * 60_000;
/** Hang guard of a worker following the cluster args (it asks every 10 s). */
const FOLLOW_MS = 90_000;
const CLUSTER_DNS = '10.152.183.10';
const timings: string[] = [];

test.before(() => createLabNetwork(net));

test.after(async () => {
  for (const node of [...nodes].reverse()) if (node.started) await node.run(['stop']);
  destroyLabNetwork(net);
  for (const node of nodes) rmSync(node.home, { recursive: true, force: true });
  if (timings.length > 0) console.log(timings.join('\n'));
});

function kubeletArgs(node: KubeNode): string {
  return readFileSync(join(node.home, 'data', 'args', 'kubelet'), 'utf8');
}

async function joinString(worker: boolean): Promise<string> {
  const token = JSON.parse(
    await node1.ok(['add-node', '--format', 'json', ...(worker ? ['--worker'] : [])]),
  ) as { joinStrings: string[] };
  const found = token.joinStrings.find((s) => s.startsWith(`${address(0)}:`));
  assert.ok(found, token.joinStrings.join(', '));
  return found!;
}

async function joinWorker(i: number): Promise<void> {
  const worker = nodes[i]!;
  await worker.ok([
    'join',
    await joinString(true),
    '--worker',
    '--address',
    address(i),
    '--hostname',
    net.hostnames![i]!,
  ]);
  await worker.ok(['start']);
  await until(`${net.hostnames![i]} Ready`, WAITS.readyMs, async () => {
    const out = await node1.kubectl(
      'get',
      'node',
      net.hostnames![i]!,
      '-o',
      'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
    );
    return out.trim() === 'True' ? true : undefined;
  });
}

/** One HTTPS request to node i's API server from this process (over the lab's bridge). */
function apiRequest(
  i: number,
  path: string,
  identity: { token: string } | { cert: string; key: string },
): Promise<number | undefined> {
  const paths = resolvePaths({ MICROK8S_HOME: node1.home });
  const ca = readFileSync(certsLayout(paths.certs).ca.certPath);
  const auth = 'token' in identity ? { headers: { authorization: `Bearer ${identity.token}` } } : identity;
  return new Promise((resolveStatus) => {
    const req = request(
      { host: address(i), port: 16443, path, method: 'GET', ca, timeout: 4_000, agent: false, ...auth },
      (res) => {
        res.resume();
        res.on('end', () => resolveStatus(res.statusCode));
        res.on('error', () => resolveStatus(undefined));
      },
    );
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolveStatus(undefined));
    req.end();
  });
}

function adminIdentity(): { cert: string; key: string } {
  const file = certsLayout(resolvePaths({ MICROK8S_HOME: node1.home }).certs).kubeconfigs.admin;
  const k = parseKubeconfig(readFileSync(file, 'utf8'), file);
  return { cert: k.certPem, key: k.keyPem };
}

interface Sample {
  readonly at: number;
  readonly up: boolean[];
}

/**
 * Runs `command` on node1 while every control-plane API server's /readyz is asked from outside,
 * a round every 200 ms (both at once): what each round saw, and the command's result.
 */
async function whilePolling(args: string[]): Promise<{ run: Run; samples: Sample[]; seconds: number }> {
  const admin = adminIdentity();
  const samples: Sample[] = [];
  let done = false;
  const poller = (async () => {
    while (!done) {
      const at = Date.now();
      const statuses = await Promise.all(
        Array.from({ length: CONTROL_PLANE }, (_, i) => apiRequest(i, '/readyz', admin)),
      );
      samples.push({ at, up: statuses.map((s) => s === 200) });
      await sleep(200);
    }
  })();
  const started = Date.now();
  const run = await node1.run(args, ADDON_COMMAND_MS);
  const seconds = (Date.now() - started) / 1000;
  // The last restart's node is ready when the command returns; a few more rounds to show it.
  await sleep(1_000);
  done = true;
  await poller;
  return { run, samples, seconds };
}

/** Each node's down stretch [first, last] (ms since the start), in the order they went down. */
function downStretches(samples: readonly Sample[]): { node: number; from: number; to: number }[] {
  const t0 = samples[0]!.at;
  const out: { node: number; from: number; to: number }[] = [];
  for (let i = 0; i < CONTROL_PLANE; i++) {
    const down = samples.filter((s) => !s.up[i]);
    if (down.length > 0) out.push({ node: i + 1, from: down[0]!.at - t0, to: down.at(-1)!.at - t0 });
  }
  return out.sort((a, b) => a.from - b.from);
}

function checkOneAtATime(what: string, samples: readonly Sample[], pidsBefore: number[]): string {
  assert.ok(samples.length > 10, `${what}: too few rounds (${samples.length})`);
  assert.ok(samples[0]!.up.every(Boolean), `${what}: not every API server was ready at the start`);
  const together = samples.filter((s) => s.up.every((u) => !u));
  assert.is(
    together.length,
    0,
    `${what}: every API server down at once at ${together.map((s) => s.at).join(', ')}`,
  );
  const pidsAfter = [node1, node2].map((n) => n.servicePid('kube-apiserver')!);
  for (let i = 0; i < CONTROL_PLANE; i++)
    assert.is.not(pidsAfter[i], pidsBefore[i], `${what}: node${i + 1}'s kube-apiserver was not restarted`);
  const stretches = downStretches(samples);
  // The roll starts where the command runs (node1), then the next member.
  assert.equal(
    stretches.map((s) => s.node),
    [1, 2],
    `${what}: down stretches ${JSON.stringify(stretches)}`,
  );
  assert.ok(stretches[0]!.to < stretches[1]!.from, `${what}: overlapping ${JSON.stringify(stretches)}`);
  return stretches.map((s) => `node${s.node} down ${s.from}..${s.to} ms`).join(', ');
}

test('two control-plane nodes and a worker are formed: start, add-node, join [--worker], start', async () => {
  const started = Date.now();
  await node1.ok(['start', '--address', address(0), '--hostname', 'node1']);
  await waitReady(node1);
  await node2.ok(['join', await joinString(false), '--address', address(1), '--hostname', 'node2']);
  await node2.ok(['start']);
  await waitReady(node2);
  await joinWorker(2);
  timings.push(`formation (2 control-plane + 1 worker): ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test('rbac is enabled on a fresh cluster: every API server has Node,RBAC', async () => {
  assert.is((await node1.ok(['status', '-a', 'rbac'])).trim(), 'enabled');
  assert.match(await node2.ok(['status']), /\n {4}rbac +\(core\)/);
});

test('rbac: refused (403) with rbac, allowed with it disabled, refused again; API servers restarted one at a time', async () => {
  const manifest = join(node1.home, 'reader.json');
  writeFileSync(
    manifest,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace: 'default' } },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'Role',
          metadata: { name: 'configmap-reader', namespace: 'default' },
          rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'reader-configmaps', namespace: 'default' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-reader' },
          subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: 'default' }],
        },
      ],
    }),
  );
  await node1.kubectl('apply', '-f', manifest);
  const token = (await node1.kubectl('create', 'token', 'reader', '-n', 'default', '--duration=1h')).trim();
  const secrets = () => apiRequest(0, '/api/v1/namespaces/default/secrets', { token });
  const configmaps = () => apiRequest(1, '/api/v1/namespaces/default/configmaps', { token });
  assert.is(await secrets(), 403);
  assert.is(await configmaps(), 200);

  const pids = () => [node1, node2].map((n) => n.servicePid('kube-apiserver')!);
  let before = pids();
  const off = await whilePolling(['disable', 'rbac']);
  assert.is(off.run.code, 0, off.run.stdout + off.run.stderr);
  assert.match(off.run.stdout, /WARNING: rbac disabled means --authorization-mode=AlwaysAllow/);
  const offOrder = checkOneAtATime('disable rbac', off.samples, before);
  timings.push(`disable rbac: ${off.seconds.toFixed(1)} s (${offOrder})`);
  for (const node of [node1, node2]) assert.is((await node.ok(['status', '-a', 'rbac'])).trim(), 'disabled');
  assert.is(await secrets(), 200);

  before = pids();
  const on = await whilePolling(['enable', 'rbac']);
  assert.is(on.run.code, 0, on.run.stdout + on.run.stderr);
  assert.match(on.run.stdout, /rbac is enabled \(/);
  const onOrder = checkOneAtATime('enable rbac', on.samples, before);
  timings.push(`enable rbac: ${on.seconds.toFixed(1)} s (${onOrder})`);
  assert.is((await node2.ok(['status', '-a', 'rbac'])).trim(), 'enabled');
  assert.is(await secrets(), 403);
  assert.is(await configmaps(), 200);
  // Enabled already: nothing is restarted.
  before = pids();
  const again = await node1.run(['enable', 'rbac'], ADDON_COMMAND_MS);
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /already has --authorization-mode=Node,RBAC/);
  assert.equal(pids(), before);
});

test('enable dns on node1 reaches the worker: its kubelet gets --cluster-dns, and its pods resolve cluster names', async () => {
  const kubeletBefore = worker1.servicePid('kubelet');
  const started = Date.now();
  const run = await node1.run(['enable', 'dns'], ADDON_COMMAND_MS);
  assert.is(run.code, 0, run.stdout + run.stderr);
  timings.push(
    `enable dns (2 control-plane nodes, the worker recorded): ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  assert.match(run.stdout, /kubelet on the workers and nodes that join later: recorded/);
  for (const node of [node1, node2])
    assert.match(kubeletArgs(node), new RegExp(`^--cluster-dns=${CLUSTER_DNS}$`, 'm'));
  await until("the worker's kubelet follows", FOLLOW_MS, async () =>
    /^--cluster-domain=cluster\.local$/m.test(kubeletArgs(worker1)) &&
    worker1.servicePid('kubelet') !== kubeletBefore
      ? true
      : undefined,
  );
  timings.push(
    `the worker's kubelet restarted on --cluster-dns: ${((Date.now() - started) / 1000).toFixed(1)} s after the enable began`,
  );
  assert.match(kubeletArgs(worker1), new RegExp(`^--cluster-dns=${CLUSTER_DNS}$`, 'm'));

  const image = await busyboxImage(node1);
  const pod = join(node1.home, 'dns-pod.json');
  writeFileSync(
    pod,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'dnscheck' },
      spec: {
        nodeName: 'worker1',
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'main', image, command: ['sleep', '3600'] }],
      },
    }),
  );
  await node1.kubectl('apply', '-f', pod);
  await node1.ok(
    ['kubectl', 'wait', '--for=condition=Ready', 'pod/dnscheck', `--timeout=${WAITS.rolloutMs / 1000}s`],
    WAITS.rolloutMs + 30_000,
  );
  const resolvConf = await node1.kubectl('exec', 'dnscheck', '--', 'cat', '/etc/resolv.conf');
  assert.match(resolvConf, new RegExp(`^nameserver ${CLUSTER_DNS.replace(/\./g, '\\.')}$`, 'm'));
  assert.match(resolvConf, /^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local/m);
  const apiIp = (
    await node1.kubectl('get', 'service', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}')
  ).trim();
  const answer = await until('nslookup from the worker', WAITS.rolloutMs, async () => {
    const r = await node1.run([
      'kubectl',
      'exec',
      'dnscheck',
      '--',
      'nslookup',
      'kubernetes.default.svc.cluster.local',
    ]);
    const found = new RegExp(
      `Name:\\s+kubernetes\\.default\\.svc\\.cluster\\.local\\s+Address:\\s+${apiIp.replace(/\./g, '\\.')}\\b`,
    );
    return found.test(r.stdout) ? r.stdout : undefined;
  });
  assert.match(answer, new RegExp(`Server:\\s+${CLUSTER_DNS.replace(/\./g, '\\.')}`));
  await node1.kubectl('delete', 'pod', 'dnscheck', '--wait=false');
});

test('a worker that joins after dns was enabled starts with --cluster-dns', async () => {
  const started = Date.now();
  await joinWorker(3);
  timings.push(`a second worker joined and Ready: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const args = kubeletArgs(worker2);
  assert.match(args, new RegExp(`^--cluster-dns=${CLUSTER_DNS}$`, 'm'));
  assert.match(args, /^--cluster-domain=cluster\.local$/m);
  // Started with them: the kubelet was not restarted to get them.
  const kubelet = worker2.supervisorReport().services.find((s) => s.name === 'kubelet');
  assert.is(kubelet?.restarts, 0);
});

test('disable dns takes --cluster-dns away from the workers too', async () => {
  const run = await node2.run(['disable', 'dns'], ADDON_COMMAND_MS);
  assert.is(run.code, 0, run.stdout + run.stderr);
  for (const node of [node1, node2]) assert.not.match(kubeletArgs(node), /--cluster-dns/);
  await until('the workers drop --cluster-dns', FOLLOW_MS, async () =>
    [worker1, worker2].every((w) => !/--cluster-dns/.test(kubeletArgs(w))) ? true : undefined,
  );
});

test('a control-plane node that joins while rbac is disabled starts with AlwaysAllow, as the others run', async () => {
  const off = await node1.run(['disable', 'rbac'], ADDON_COMMAND_MS);
  assert.is(off.code, 0, off.stdout + off.stderr);
  const started = Date.now();
  await node3.ok(['join', await joinString(false), '--address', address(4), '--hostname', 'node3']);
  await node3.ok(['start']);
  await waitReady(node3);
  timings.push(
    `a third control-plane node joined and ready: ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  const args = readFileSync(join(node3.home, 'data', 'args', 'kube-apiserver'), 'utf8');
  const report = JSON.stringify(node3.supervisorReport().services.find((x) => x.name === 'kube-apiserver'));
  assert.ok(/^--authorization-mode=AlwaysAllow$/m.test(args), `node3's kube-apiserver: ${report}\n${args}`);
  assert.is((await node3.ok(['status', '-a', 'rbac'])).trim(), 'disabled');
});

/** The addon lock's holder record in node1's datastore, if the lock is held. */
async function lockHolder(): Promise<string | undefined> {
  const config = readDatastoreConfig(agentContext(resolvePaths({ MICROK8S_HOME: node1.home })));
  const socket = config.clientUnix ?? etcdSocketPath(config.dataDir);
  const answer = await localEtcdCall<{ kvs: { value: Buffer }[] }>(socket, 'KV', 'Range', {
    key: Buffer.from(ADDON_LOCK_KEY),
  });
  return answer.kvs[0]?.value.toString('utf8');
}

test('two enables on two nodes at once run one after the other under the cluster lock', async () => {
  // The first holds the lock for a while (a roll over three API servers); the second starts
  // while it does, so it must wait (no guess about how long either takes).
  const started = Date.now();
  const first = node1.run(['enable', 'rbac'], ADDON_COMMAND_MS).then((run) => {
    timings.push(`enable rbac over 3 control-plane nodes: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return run;
  });
  const holder = await until('node1 holds the addon lock', 60_000, lockHolder);
  assert.match(holder, /"operation":"enable rbac"/);
  const second = await node2.run(['enable', 'hostpath-storage'], ADDON_COMMAND_MS);
  const firstRun = await first;
  assert.is(firstRun.code, 0, firstRun.stdout + firstRun.stderr);
  assert.is(second.code, 0, second.stdout + second.stderr);
  const waited = second.stdout.split('\n').find((l) => l.includes('waiting for the addon lock'));
  assert.match(
    waited ?? '',
    /waiting for the addon lock, held by enable rbac on node1 \(pid \d+\)/,
    second.stdout,
  );
  assert.not.match(firstRun.stdout, /waiting for the addon lock/);
  timings.push(`lock: node2 printed "${waited}"`);
  // It enabled only once the first one was done: rbac is on everywhere by then.
  assert.match(second.stdout, /hostpath-storage is enabled/);
  assert.is(await lockHolder(), undefined);
  for (const node of [node1, node2, node3])
    assert.match(
      readFileSync(join(node.home, 'data', 'args', 'kube-apiserver'), 'utf8'),
      /^--authorization-mode=Node,RBAC$/m,
    );
});

test.run();
