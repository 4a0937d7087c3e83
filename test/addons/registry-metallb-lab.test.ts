/**
 * The registry and metallb addons on two nodes of the Kubernetes lab (src/lab/kube/network.ts,
 * on 10.201.60.0/24): a control-plane node and a worker that joined with --worker. The registry
 * is enabled on the first node; `microk8s images push` there uploads busybox to localhost:32000;
 * a pod pinned to each node runs that image, so the worker's containerd trusted localhost:32000
 * too (rendered with the worker's config) and its kube-proxy reached the registry's NodePort.
 * Before that, metallb with a range on the lab's own segment: a LoadBalancer Service's address
 * answers the lab's host (the bridge, .254), whose ARP a speaker answered with its node's MAC.
 * (metallb first: once the kubelet has pulled the busybox image from the registry under another
 * name, it keeps a pull record for that image and no longer runs it as the preloaded
 * localhost/microk8s/busybox with pull policy Never: the kubelet's credential verification of
 * pulled images, KubeletEnsureSecretPulledImages.)
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  addressOf,
  bridgeOf,
  createLabNetwork,
  destroyLabNetwork,
  type LabNetworkSpec,
  launcherOf,
  namespaceOf,
} from '../../src/lab/kube/network.js';
import { resolveUpstreamPaths } from '../../src/lib/upstream-paths.js';
import { KubeNode, until } from '../kubernetes/node-cli.js';
import { busyboxImage, deployWeb, WAITS, waitReady, webManifest } from '../kubernetes/scenario.js';
import { loadBalancerAddress } from './load-balancer.js';

const net: LabNetworkSpec = {
  tag: `mk8r${randomBytes(2).toString('hex')}`,
  subnet: '10.201.60',
  size: 2,
  controlPlane: 1,
  hostnames: ['node1', 'worker1'],
};
const BUSYBOX_TAR = join(resolveUpstreamPaths({ ...process.env, SNAP: '' }).images, 'busybox.tar');
const PUSHED = 'localhost:32000/busybox:lab';
const RANGE = '10.201.60.240-10.201.60.250';
const ADDON_COMMAND_MS = 8 * 60_000;
let node1: KubeNode;
let worker: KubeNode;

test.before(() => {
  createLabNetwork(net);
  node1 = new KubeNode('mk8s-rl-node1', launcherOf(net, 0));
  worker = new KubeNode('mk8s-rl-worker1', launcherOf(net, 1));
});

test.after(async () => {
  for (const node of [worker, node1]) if (node?.started) await node.run(['stop']);
  destroyLabNetwork(net);
  for (const node of [node1, worker]) if (node) rmSync(node.home, { recursive: true, force: true });
});

function ipJson<T>(...args: string[]): T {
  return JSON.parse(execFileSync('ip', ['-j', ...args], { encoding: 'utf8', timeout: 10_000 })) as T;
}

test('a control-plane node and a worker are Ready', async () => {
  await node1.ok(['start', '--address', addressOf(net, 0), '--hostname', 'node1']);
  await waitReady(node1);
  const token = JSON.parse(await node1.ok(['add-node', '--format', 'json', '--worker'])) as {
    joinStrings: string[];
  };
  const joinString = token.joinStrings.find((s) => s.startsWith(`${addressOf(net, 0)}:`))!;
  await worker.ok(['join', joinString, '--worker', '--address', addressOf(net, 1), '--hostname', 'worker1']);
  await worker.ok(['start']);
  await until('2 nodes Ready', WAITS.readyMs, async () => {
    const list = await node1.kubectlJson<{
      items: { status: { conditions: { type: string; status: string }[] } }[];
    }>('get', 'nodes');
    const ready = list.items.filter((n) =>
      n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    return ready.length === 2 ? true : undefined;
  });
});

test('metallb: a LoadBalancer address on the lab segment answers the lab host after ARP', async () => {
  const started = Date.now();
  const run = await node1.run(['enable', `metallb:${RANGE}`], ADDON_COMMAND_MS);
  assert.is(run.code, 0, run.stdout + run.stderr);
  console.log(`enable metallb on the lab: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const manifest = join(node1.home, 'web.json');
  writeFileSync(manifest, webManifest(await busyboxImage(node1)));
  await deployWeb(node1, manifest);
  await node1.kubectl('patch', 'service', 'web', '-p', '{"spec":{"type":"LoadBalancer"}}');
  const lbIp = await loadBalancerAddress(node1, 'web');
  assert.match(lbIp, /^10\.201\.60\.(24\d|250)$/);
  // This process is the lab's host: the bridge holds .254 of the segment.
  const body = await until(`GET http://${lbIp}/ from the lab host`, WAITS.rolloutMs, async () => {
    try {
      return execFileSync('curl', ['--silent', '--fail', '--max-time', '5', `http://${lbIp}/`], {
        encoding: 'utf8',
        timeout: 15_000,
      });
    } catch {
      return undefined;
    }
  });
  assert.match(body, /^hello from web-/);
  const neighbour = ipJson<{ lladdr?: string }[]>('neigh', 'show', lbIp, 'dev', bridgeOf(net))[0];
  const macs = [0, 1].map(
    (i) =>
      ipJson<{ ifname: string; address: string }[]>(
        '-n',
        namespaceOf(net, i),
        'link',
        'show',
        `${net.tag}c${i + 1}`,
      )[0]!.address,
  );
  assert.ok(neighbour?.lladdr && macs.includes(neighbour.lladdr), `${neighbour?.lladdr} not in ${macs}`);
  const off = await node1.run(['disable', 'metallb'], ADDON_COMMAND_MS);
  assert.is(off.code, 0, off.stdout + off.stderr);
});

test('the registry: pushed on node1, pulled and run by a pod on each node', async () => {
  const started = Date.now();
  const run = await node1.run(['enable', 'registry'], ADDON_COMMAND_MS);
  assert.is(run.code, 0, run.stdout + run.stderr);
  console.log(`enable registry on the lab: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const pushed = await node1.ok(['images', 'push', BUSYBOX_TAR, PUSHED]);
  assert.match(pushed, /^Pushed localhost:32000\/busybox:lab sha256:/);
  for (const name of ['node1', 'worker1']) {
    const file = join(node1.home, `pulled-${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `pulled-${name}` },
        spec: {
          nodeName: name,
          terminationGracePeriodSeconds: 1,
          containers: [
            { name: 'main', image: PUSHED, imagePullPolicy: 'Always', command: ['sleep', '3600'] },
          ],
        },
      }),
    );
    await node1.kubectl('apply', '-f', file);
  }
  for (const name of ['node1', 'worker1']) {
    await node1.ok(
      [
        'kubectl',
        'wait',
        '--for=condition=Ready',
        `pod/pulled-${name}`,
        `--timeout=${WAITS.rolloutMs / 1000}s`,
      ],
      WAITS.rolloutMs + 30_000,
    );
  }
  const workerImages = await worker.ok(['ctr', 'images', 'list', '--quiet']);
  assert.ok(workerImages.split('\n').includes(PUSHED), workerImages);
  await node1.kubectl('delete', 'pod', 'pulled-node1', 'pulled-worker1', '--wait=true');
  const off = await node1.run(['disable', 'registry'], ADDON_COMMAND_MS);
  assert.is(off.code, 0, off.stdout + off.stderr);
});

test.run();
