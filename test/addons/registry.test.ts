/**
 * `microk8s enable registry` on a fresh real node (its own network namespace, as
 * dns-storage.test.ts): hostpath-storage is enabled first (the declared dependency), the
 * registry answers at localhost:32000 (its NodePort), our own client pushes the busybox OCI
 * layout there (src/services/images/registry-push.ts: blobs, then the manifest), and a pod whose
 * image is localhost:32000/busybox:test runs: the kubelet had containerd pull it from the
 * registry over plain HTTP (the node's certs.d/localhost:32000/hosts.toml). Disable removes the
 * objects and the volume. Bad input applies nothing. Needs root, cgroups and the upstream build
 * with the addon images (`npm run build:upstream`); without them it fails and says why.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveUpstreamPaths } from '../../src/lib/upstream-paths.js';
import { pushImageArchive } from '../../src/services/images/registry-push.js';
import { KubeNode, until } from '../kubernetes/node-cli.js';
import { inOwnNetns } from '../kubernetes/node-netns.js';
import { WAITS, waitReady } from '../kubernetes/scenario.js';

const address = await inOwnNetns(new URL(import.meta.url).pathname, '10.200.60.2');
const node = new KubeNode('mk8s-registry');
const BUSYBOX_TAR = join(resolveUpstreamPaths({ ...process.env, SNAP: '' }).images, 'busybox.tar');
const PUSHED = 'localhost:32000/busybox:test';
/** Hang guard of one enable or disable (image import, rollouts). */
const ADDON_COMMAND_MS = 8 * 60_000;

test.after(async () => {
  if (node.started) await node.run(['stop']);
  rmSync(node.home, { recursive: true, force: true });
});

async function names(kind: string, namespace?: string): Promise<string[]> {
  const scope = namespace ? ['-n', namespace] : [];
  return (await node.kubectl('get', kind, ...scope, '-o', 'name', '--ignore-not-found'))
    .split('\n')
    .filter(Boolean);
}

test('a fresh node starts; its containerd trusts localhost:32000 over plain HTTP', async () => {
  assert.ok(existsSync(BUSYBOX_TAR), `${BUSYBOX_TAR} is missing: run \`npm run build:upstream\` first`);
  await node.ok(['start', '--address', address]);
  await waitReady(node);
  const args = join(node.home, 'data', 'args');
  assert.match(readFileSync(join(args, 'containerd.toml'), 'utf8'), /config_path = ".*certs\.d"/);
  assert.match(
    readFileSync(join(args, 'certs.d', 'localhost:32000', 'hosts.toml'), 'utf8'),
    /\[host\."http:\/\/localhost:32000"\]/,
  );
});

test('a bad size is refused with MK_ADDON_ARGS and nothing is applied', async () => {
  for (const bad of ['registry:lots', 'registry:-1Gi']) {
    const run = await node.run(['enable', bad, '--json']);
    assert.is.not(run.code, 0, run.stdout);
    assert.is((JSON.parse(run.stdout) as { error: { code: string } }).error.code, 'MK_ADDON_ARGS');
  }
  assert.equal(await names('namespace/container-registry'), []);
  assert.is((await node.ok(['status', '-a', 'hostpath-storage'])).trim(), 'disabled');
});

test('enable registry enables hostpath-storage first and returns once the registry answers', async () => {
  const started = Date.now();
  const run = await node.run(['enable', 'registry'], ADDON_COMMAND_MS);
  const seconds = (Date.now() - started) / 1000;
  assert.is(run.code, 0, run.stdout + run.stderr);
  console.log(`enable registry (with hostpath-storage): ${seconds.toFixed(1)} s\n${run.stdout.trim()}`);
  assert.ok(
    run.stdout.indexOf('hostpath-storage is enabled') < run.stdout.indexOf('registry is enabled'),
    run.stdout,
  );
  // This node's containerd reads certs.d (rendered with the node): no warning.
  assert.not.match(run.stdout, /warning/);
  assert.is((await node.ok(['status', '-a', 'registry'])).trim(), 'enabled');
  const claim = await node.kubectl('get', 'pvc', 'registry-claim', '-n', 'container-registry', '-o', 'json');
  assert.is((JSON.parse(claim) as { status: { phase: string } }).status.phase, 'Bound');
  const answer = await fetch('http://localhost:32000/v2/');
  assert.is(answer.status, 200);
});

test('our client pushes busybox to localhost:32000; a pod runs it, pulled from there', async () => {
  const started = Date.now();
  const pushed = await pushImageArchive(BUSYBOX_TAR, PUSHED);
  console.log(
    `pushed ${PUSHED} ${pushed.digest}: ${pushed.uploaded} blobs, ${pushed.bytes} bytes in ${Date.now() - started} ms`,
  );
  assert.is(pushed.uploaded, 2);
  const catalog = (await (await fetch('http://localhost:32000/v2/_catalog')).json()) as {
    repositories: string[];
  };
  assert.equal(catalog.repositories, ['busybox']);
  const before = await node.ok(['ctr', 'images', 'list', '--quiet']);
  assert.not.ok(before.split('\n').includes(PUSHED), 'the node must not have the image before the pod');
  const pod = join(node.home, 'pulled.json');
  writeFileSync(
    pod,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'pulled' },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'main', image: PUSHED, imagePullPolicy: 'Always', command: ['sleep', '3600'] }],
      },
    }),
  );
  await node.kubectl('apply', '-f', pod);
  await node.ok(
    ['kubectl', 'wait', '--for=condition=Ready', 'pod/pulled', `--timeout=${WAITS.rolloutMs / 1000}s`],
    WAITS.rolloutMs + 30_000,
  );
  const status = await node.kubectlJson<{ status: { containerStatuses: { imageID: string }[] } }>(
    'get',
    'pod',
    'pulled',
  );
  assert.match(status.status.containerStatuses[0]!.imageID, new RegExp(`${pushed.digest}$`));
  const after = await node.ok(['ctr', 'images', 'list', '--quiet']);
  assert.ok(after.split('\n').includes(PUSHED), after);
  assert.match(await node.kubectl('exec', 'pulled', '--', 'echo', 'ran'), /^ran$/m);
  await node.kubectl('delete', 'pod', 'pulled', '--wait=true');
});

test('disable registry removes its objects and its volume', async () => {
  const run = await node.run(['disable', 'registry'], ADDON_COMMAND_MS);
  assert.is(run.code, 0, run.stdout + run.stderr);
  assert.equal(await names('namespace/container-registry'), []);
  assert.is((await node.ok(['status', '-a', 'registry'])).trim(), 'disabled');
  // The claim's volume goes with it (the StorageClass's Delete policy).
  await until('the registry volume to go', WAITS.rolloutMs, async () =>
    (await names('pv')).length === 0 ? true : undefined,
  );
  assert.is((await node.ok(['status', '-a', 'hostpath-storage'])).trim(), 'enabled');
  const off = await node.run(['disable', 'storage', '--purge'], ADDON_COMMAND_MS);
  assert.is(off.code, 0, off.stdout + off.stderr);
});

test.run();
