/**
 * One real node, as a user runs it: `microk8s start` on a fresh MICROK8S_HOME, the upstream
 * kube-apiserver on our datastore, containerd, runc and the kubelet running real pods of the
 * locally built busybox image. The whole file runs inside a network namespace of its own (see
 * node-netns.ts), on the address 10.200.0.2 there. Needs root, cgroups and the upstream build
 * (`npm run build:upstream`, which `npm test` runs first); without them it fails and says why.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KubeNode, until } from './node-cli.js';
import { inOwnNetns } from './node-netns.js';
import {
  busyboxImage,
  checkNodeReady,
  checkReadyz,
  checkWeb,
  containersOf,
  deployWeb,
  killAndRecover,
  mountsOf,
  processesOf,
  WAITS,
  waitReady,
  webManifest,
  webPods,
} from './scenario.js';

const address = await inOwnNetns(new URL(import.meta.url).pathname, '10.200.0.2');
const node = new KubeNode('mk8s-single');
const manifest = join(node.home, 'web.json');
let deploymentUid = '';

test.after(async () => {
  if (node.started) await node.run(['stop']);
  rmSync(node.home, { recursive: true, force: true });
});

test('start sets a fresh node up; status --wait-ready returns once Kubernetes serves', async () => {
  const out = await node.ok(['start', '--address', address]);
  assert.match(out, `set up a new single-node cluster on ${address}`);
  await waitReady(node);
});

test('kubectl get nodes: this node Ready, with the real Kubernetes version', async () => {
  await checkNodeReady(node);
});

test('/readyz?verbose: every check ok, etcd (our datastore) included', async () => {
  await checkReadyz(node);
});

test('a Deployment of 3 replicas of the imported image becomes Available; logs, exec, ClusterIP, pod to pod', async () => {
  writeFileSync(manifest, webManifest(await busyboxImage(node)));
  await deployWeb(node, manifest);
  deploymentUid = (await node.kubectl('get', 'deployment', 'web', '-o', 'jsonpath={.metadata.uid}')).trim();
  await checkWeb(node);
});

for (const service of ['kubelet', 'kube-apiserver', 'datastore']) {
  test(`SIGKILL of ${service}: restarted by the supervisor, the API answers again, the pods kept running`, async () => {
    const ms = await killAndRecover(node, service);
    console.log(`recovery after SIGKILL of ${service}: ${(ms / 1000).toFixed(1)} s`);
  });
}

let containersBeforeStop: string[] = [];

test('stop leaves no process of the node, no shim, no container, no mount', async () => {
  containersBeforeStop = (await webPods(node)).map((p) => p.status.containerStatuses?.[0]?.containerID ?? '');
  const out = await node.ok(['stop']);
  assert.match(out, /^stopped/);
  assert.equal(processesOf(node.home), []);
  assert.equal(containersOf(node.home), []);
  assert.equal(mountsOf(node.home), []);
  const status = await node.run(['status']);
  assert.is(status.code, 3, status.stdout + status.stderr);
});

test('start again brings back the same objects, and the pods serve again', async () => {
  await node.ok(['start']);
  await waitReady(node);
  const uid = (await node.kubectl('get', 'deployment', 'web', '-o', 'jsonpath={.metadata.uid}')).trim();
  assert.is(uid, deploymentUid);
  // The API keeps the last statuses until the kubelet reports the containers it started anew.
  await until('the 3 pods run new containers', WAITS.rolloutMs, async () => {
    const pods = await webPods(node);
    const fresh = pods.filter((p) => {
      const status = p.status.containerStatuses?.[0];
      return status?.ready && status.containerID && !containersBeforeStop.includes(status.containerID);
    });
    return pods.length === 3 && fresh.length === 3 ? true : undefined;
  });
  await checkWeb(node);
});

test.run();
