/**
 * Three control-plane nodes formed as users form them (issue 16's first scenario, at the product
 * level): node 1 started alone, then `add-node` on it and `join` + `start` on each other node.
 * Each node is a network namespace of its own with a veth into a bridge, made with the Kubernetes
 * lab's network (src/lab/kube/network.ts, on 10.201.7.0/24). Each node's pods get the /24 the
 * controller manager gave its Node, routed between the namespaces by flanneld (host-gw). All nodes
 * Ready, high availability, a Deployment spread over the nodes, pods reaching pods on the other
 * nodes by pod IP, and its Service answering from every node.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crashNode } from '../../src/lab/kube/cluster.js';
import {
  addressOf,
  createLabNetwork,
  destroyLabNetwork,
  type LabNetworkSpec,
  launcherOf,
} from '../../src/lab/kube/network.js';
import { KubeNode, until } from './node-cli.js';
import { busyboxImage, processesOf, WAITS, waitReady, webManifest } from './scenario.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const SIZE = 3;
/** How long the web pods tolerate a NotReady or unreachable node (stated, shortened). */
const TOLERATION_SECONDS = 20;
/** One worker besides the control plane (index SIZE): it joins with --worker (scenario 7). */
const net: LabNetworkSpec = {
  tag: `mk8h${randomBytes(2).toString('hex')}`,
  subnet: '10.201.7',
  size: SIZE + 1,
  controlPlane: SIZE,
  hostnames: ['node1', 'node2', 'node3', 'worker1'],
};
const address = (i: number) => addressOf(net, i);
const nodes: KubeNode[] = [];
let worker: KubeNode | undefined;

test.before(() => {
  createLabNetwork(net);
  for (let i = 0; i <= SIZE; i++) {
    const name = i < SIZE ? `node${i + 1}` : 'worker1';
    const node = new KubeNode(`mk8s-ha-${name}`, launcherOf(net, i));
    if (i < SIZE) nodes.push(node);
    else worker = node;
  }
});

test.after(async () => {
  for (const node of [worker!, ...[...nodes].reverse()]) if (node?.started) await node.run(['stop']);
  destroyLabNetwork(net);
  for (const node of [...nodes, worker!]) if (node) rmSync(node.home, { recursive: true, force: true });
});

test('node 1 starts alone; nodes 2 and 3 join it through add-node and join, then start', async () => {
  const [first] = nodes;
  await first!.ok(['start', '--address', address(0), '--hostname', 'node1']);
  await waitReady(first!);
  for (let i = 1; i < SIZE; i++) {
    const token = JSON.parse(await first!.ok(['add-node', '--format', 'json'])) as { joinStrings: string[] };
    const joinString = token.joinStrings.find((s) => s.startsWith(`${address(0)}:`));
    assert.ok(joinString, token.joinStrings.join(', '));
    await nodes[i]!.ok(['join', joinString!, '--address', address(i), '--hostname', `node${i + 1}`]);
    await nodes[i]!.ok(['start']);
  }
  for (const node of nodes) await waitReady(node);
  // A worker: signed certificates, no datastore; its components use its API-server proxy.
  const token = JSON.parse(await nodes[0]!.ok(['add-node', '--format', 'json', '--worker'])) as {
    joinStrings: string[];
  };
  const joinString = token.joinStrings.find((s) => s.startsWith(`${address(0)}:`))!;
  await worker!.ok(['join', joinString, '--worker', '--address', address(SIZE), '--hostname', 'worker1']);
  await worker!.ok(['start']);
  const services = worker!.supervisorReport().services.map((s) => s.name);
  assert.equal(services, ['containerd', 'apiserver-proxy', 'flanneld', 'kubelet', 'kube-proxy']);
});

test('every node is Ready with the real version, and the datastore is highly available', async () => {
  const names = await until('4 nodes Ready', WAITS.readyMs, async () => {
    const list = await nodes[0]!.kubectlJson<{
      items: { metadata: { name: string }; status: { conditions: { type: string; status: string }[] } }[];
    }>('get', 'nodes');
    const ready = list.items.filter((n) =>
      n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    return ready.length === SIZE + 1 ? ready.map((n) => n.metadata.name).sort() : undefined;
  });
  assert.equal(names, ['node1', 'node2', 'node3', 'worker1']);
  const status = await nodes[2]!.ok(['status']);
  assert.match(status, 'high-availability: yes');
});

test('a Deployment spreads over the four nodes, the worker included; its Service answers inside every node', async () => {
  const manifest = join(nodes[0]!.home, 'web.json');
  const web = JSON.parse(webManifest(await busyboxImage(nodes[0]!)));
  web.items[0].spec.replicas = 8;
  web.items[0].spec.template.spec.topologySpreadConstraints = [
    {
      maxSkew: 1,
      topologyKey: 'kubernetes.io/hostname',
      whenUnsatisfiable: 'DoNotSchedule',
      // A dead (tainted) node is no domain to spread over: its pods move to the others.
      nodeTaintsPolicy: 'Honor',
      labelSelector: { matchLabels: { app: 'web' } },
    },
  ];
  // Shortened from the default 300 s, so that a dead node's pods are rescheduled within the test.
  web.items[0].spec.template.spec.tolerations = ['not-ready', 'unreachable'].map((taint) => ({
    key: `node.kubernetes.io/${taint}`,
    operator: 'Exists',
    effect: 'NoExecute',
    tolerationSeconds: TOLERATION_SECONDS,
  }));
  writeFileSync(manifest, JSON.stringify(web));
  await nodes[0]!.kubectl('apply', '-f', manifest);
  await nodes[0]!.ok(
    [
      'kubectl',
      'wait',
      '--for=condition=Available',
      'deployment/web',
      `--timeout=${WAITS.rolloutMs / 1000}s`,
    ],
    WAITS.rolloutMs + 30_000,
  );
  const pods = await nodes[1]!.kubectlJson<{ items: { spec: { nodeName: string } }[] }>(
    'get',
    'pods',
    '-l',
    'app=web',
  );
  assert.equal([...new Set(pods.items.map((p) => p.spec.nodeName))].sort(), [
    'node1',
    'node2',
    'node3',
    'worker1',
  ]);
  const clusterIp = (
    await nodes[0]!.kubectl('get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}')
  ).trim();
  // From inside each node's namespace: kube-proxy there sends to pods on all three nodes.
  for (const [i, node] of [...nodes, worker!].entries()) {
    const seen = new Set<string>();
    for (let n = 0; n < 100 && seen.size < 3; n++) {
      const body = await until(`the Service answers inside node${i + 1}`, WAITS.recoverMs, () =>
        httpGetIn(node, clusterIp),
      );
      seen.add(body.trim());
    }
    // Pods on other nodes answer too: the pod subnets are routed between the namespaces.
    assert.ok(seen.size >= 2, `inside node${i + 1}: ${[...seen].join(', ')}`);
  }
});

test('each node has its own pod subnet, and a pod on every node reaches a pod on another by pod IP', async () => {
  const list = await nodes[0]!.kubectlJson<{
    items: { metadata: { name: string }; spec: { podCIDR?: string } }[];
  }>('get', 'nodes');
  const cidrs = list.items.map((n) => n.spec.podCIDR);
  assert.ok(
    cidrs.every((c) => c?.startsWith('10.1.') && c.endsWith('/24')),
    `podCIDRs: ${cidrs.join(', ')}`,
  );
  assert.is(new Set(cidrs).size, SIZE + 1, `one /24 each: ${cidrs.join(', ')}`);
  const pods = (
    await nodes[0]!.kubectlJson<{ items: PodItem[] }>('get', 'pods', '-l', 'app=web')
  ).items.filter((p) => p.status.containerStatuses?.[0]?.ready && p.status.podIP);
  const onNode = (name: string) => pods.find((p) => p.spec.nodeName === name);
  const names = ['node1', 'node2', 'node3', 'worker1'];
  for (const [i, from] of names.entries()) {
    const to = names[(i + 1) % names.length]!;
    const [a, b] = [onNode(from), onNode(to)];
    if (!a || !b) throw new Error(`no ready web pod on ${from} or on ${to}`);
    // busybox's static wget cannot resolve; nc speaks HTTP/1.0 to the other pod's IP directly.
    const page = await until(`${from}'s pod reaches ${to}'s pod`, WAITS.recoverMs, async () => {
      const r = await nodes[0]!.run(
        [
          'kubectl',
          'exec',
          a.metadata.name,
          '--',
          'sh',
          '-c',
          `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${b.status.podIP} 8080`,
        ],
        30_000,
      );
      return r.code === 0 && r.stdout.includes('hello from') ? r.stdout : undefined;
    });
    assert.match(page, `hello from ${b.metadata.name}`);
  }
});

interface PodItem {
  metadata: { name: string };
  spec: { nodeName?: string };
  status: {
    podIP?: string;
    phase: string;
    containerStatuses?: { containerID?: string; restartCount: number; ready: boolean }[];
  };
}

/** `kubectl get configmaps --watch-only -o name` through a node, its lines collected as they come. */
function watchConfigMaps(node: KubeNode): { lines: () => string[]; stop: () => void } {
  const [command, ...prefix] = [...node.launcher, process.execPath];
  const child = spawn(
    command!,
    [...prefix, join(ROOT, 'bin', 'run.js'), 'kubectl', 'get', 'configmaps', '--watch-only', '-o', 'name'],
    { env: { ...process.env, MICROK8S_HOME: node.home }, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  // A hang guard: the watch never outlives the test.
  const timer = setTimeout(() => child.kill('SIGKILL'), 20 * 60_000);
  return {
    lines: () => out.split('\n').filter(Boolean),
    stop: () => {
      clearTimeout(timer);
      child.kill('SIGTERM');
    },
  };
}

test('SIGKILL of the node holding the datastore leader: the API answers through the others, writes resume, a watch misses nothing, their pods never stop, its pods move', async () => {
  let leader = -1;
  for (const [i, node] of nodes.entries()) {
    const status = JSON.parse(await node.ok(['status', '--format', 'json'])) as {
      datastore: { leader: { self: boolean } | null };
    };
    if (status.datastore.leader?.self) leader = i;
  }
  assert.ok(leader >= 0, 'a datastore leader');
  // The control-plane nodes that survive (kubectl runs there; the worker has no admin identity).
  const survivors = nodes.filter((_, i) => i !== leader);
  const deadName = `node${leader + 1}`;
  const before = (await survivors[0]!.kubectlJson<{ items: PodItem[] }>('get', 'pods', '-l', 'app=web'))
    .items;
  const kept = before
    .filter((p) => p.spec.nodeName !== deadName)
    .map((p) => p.status.containerStatuses?.[0]?.containerID)
    .sort();

  // A watch held open through a surviving API server across the crash (scenario 3).
  const watch = watchConfigMaps(survivors[1]!);

  const killedAt = Date.now();
  await crashNode(net, leader, nodes[leader]!.home);
  await until('a write through a surviving API server', WAITS.recoverMs, async () => {
    const r = await survivors[0]!.run(
      ['kubectl', 'create', 'configmap', `after-crash-${Date.now()}`],
      30_000,
    );
    return r.code === 0 ? true : undefined;
  });
  const writesResumedMs = Date.now() - killedAt;
  console.log(
    `writes resumed ${(writesResumedMs / 1000).toFixed(1)} s after SIGKILL of ${deadName} (the datastore leader)`,
  );
  assert.is((await survivors[1]!.kubectl('get', '--raw', '/readyz')).trim(), 'ok');

  // Every object created after the failure reaches the watch, with no gap, and matches a list.
  const created: string[] = [];
  for (let i = 0; i < 20; i++) {
    const name = `watched-${i}`;
    await survivors[0]!.kubectl('create', 'configmap', name);
    created.push(`configmap/${name}`);
  }
  await until('the watch saw every configmap created after the crash', WAITS.recoverMs, async () =>
    created.every((name) => watch.lines().includes(name)) ? true : undefined,
  );
  const listed = (await survivors[1]!.kubectl('get', 'configmaps', '-o', 'name'))
    .split('\n')
    .filter((l) => l.startsWith('configmap/watched-'));
  assert.equal(listed.sort(), [...created].sort());
  watch.stop();
  console.log(
    `the watch through a surviving API server saw all ${created.length} configmaps created after the crash`,
  );

  await until(`${deadName} NotReady`, WAITS.recoverMs, async () => {
    const node = await survivors[1]!.kubectlJson<{
      status: { conditions: { type: string; status: string }[] };
    }>('get', 'node', deadName);
    return node.status.conditions.some((c) => c.type === 'Ready' && c.status !== 'True') ? true : undefined;
  });
  const notReadyMs = Date.now() - killedAt;
  const moved = await until('8 web pods Running on the surviving nodes', WAITS.rolloutMs, async () => {
    const pods = (await survivors[0]!.kubectlJson<{ items: PodItem[] }>('get', 'pods', '-l', 'app=web'))
      .items;
    const running = pods.filter(
      (p) => p.spec.nodeName !== deadName && p.status.containerStatuses?.[0]?.ready,
    );
    return running.length === 8 ? running : undefined;
  });
  console.log(
    `${deadName} NotReady after ${(notReadyMs / 1000).toFixed(1)} s; its pods running elsewhere after ${((Date.now() - killedAt) / 1000).toFixed(1)} s (toleration ${TOLERATION_SECONDS} s)`,
  );
  // The survivors' own pods never stopped: the same containers, never restarted.
  const survivorsPods = moved.filter((p) => kept.includes(p.status.containerStatuses?.[0]?.containerID));
  assert.is(survivorsPods.length, kept.length);
  assert.ok(survivorsPods.every((p) => p.status.containerStatuses?.[0]?.restartCount === 0));
});

test('stop on every node leaves none of its processes', async () => {
  for (const node of [worker!, ...[...nodes].reverse()]) await node.run(['stop']);
  for (const node of [...nodes, worker!]) assert.equal(processesOf(node.home), []);
});

/** An HTTP GET from inside a node's namespace (a one-line Node client, new connection each time). */
async function httpGetIn(node: KubeNode, ip: string): Promise<string | undefined> {
  const script = `fetch('http://${ip}/index.html',{signal:AbortSignal.timeout(5000)}).then(r=>r.text()).then(t=>process.stdout.write(t),()=>process.exit(1))`;
  try {
    return execFileSync(node.launcher[0]!, [...node.launcher.slice(1), process.execPath, '-e', script], {
      encoding: 'utf8',
      timeout: 15_000,
    });
  } catch {
    return undefined;
  }
}

test.run();
