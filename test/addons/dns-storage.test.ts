/**
 * `microk8s enable dns storage` on a fresh real node (its own network namespace, see
 * test/kubernetes/node-netns.ts), as a user runs it: both addons ready when it returns; a pod
 * resolves the API's and a Service's cluster names through CoreDNS; a claim on the default
 * StorageClass is bound and its data survives the pod; status lists both; disable removes
 * their objects (--purge the volumes' data); bad input applies nothing; two enables at once
 * run one after the other under the cluster-wide lock; a third-party addon from a local git
 * repository enables and leaves status with its repository; a needs-registry addon without
 * its images fails before applying anything, and the manifests of all of them pass the API
 * server's own checks in a server-side dry run; host-access runs once the images table maps its
 * busybox to the local one. Needs root, cgroups and the upstream
 * build with the addon images (`npm run build:upstream`); without them it fails and says why.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeFacts } from '../../src/addons/context.js';
import type { KubeObject } from '../../src/addons/kube/object.js';
import { loadPlugin } from '../../src/addons/plugin-loader.js';
import { renderAddon } from '../../src/addons/render.js';
import { repositories } from '../../src/addons/repo-store.js';
import { resolvePaths } from '../../src/lib/paths.js';
import { KubeNode, type Run, until } from '../kubernetes/node-cli.js';
import { inOwnNetns } from '../kubernetes/node-netns.js';
import { busyboxImage, WAITS, waitReady } from '../kubernetes/scenario.js';
import { configMapAddon, GitSource } from './git-source.js';

const address = await inOwnNetns(new URL(import.meta.url).pathname, '10.200.0.2');
const node = new KubeNode('mk8s-addons');
const storageDir = join(node.home, 'common', 'default-storage');
/** The label every core addon object carries. */
const MANAGED = 'app.kubernetes.io/managed-by=microk8s';
/** Hang guard of one enable or disable (image import, rollouts, a kubelet restart). */
const ADDON_COMMAND_MS = 8 * 60_000;
/** host-access's loopback address here: in this test's lab range, not MicroK8s's 10.0.1.1. */
const HOST_ACCESS_IP = '10.200.40.1';

test.after(async () => {
  if (node.started) await node.run(['stop']);
  rmSync(node.home, { recursive: true, force: true });
});

function errorOf(run: Run): { code: string; message: string } {
  assert.is.not(run.code, 0, run.stdout);
  return (JSON.parse(run.stdout) as { error: { code: string; message: string } }).error;
}

async function objectsOf(kind: string, namespace: string, selector?: string): Promise<string[]> {
  const args = ['get', kind, '-n', namespace, '-o', 'name', ...(selector ? ['-l', selector] : [])];
  return (await node.kubectl(...args)).split('\n').filter(Boolean);
}

async function applyJson(name: string, object: object, flags: string[] = []): Promise<void> {
  const file = join(node.home, `${name}.json`);
  writeFileSync(file, JSON.stringify(object));
  await node.kubectl('apply', ...flags, '-f', file);
}

function podSpec(name: string, image: string, claim?: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { test: 'addons' } },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'main',
          image,
          command: ['sleep', '3600'],
          ...(claim ? { volumeMounts: [{ name: 'data', mountPath: '/data' }] } : {}),
        },
      ],
      ...(claim ? { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }] } : {}),
    },
  };
}

async function waitPodRunning(name: string): Promise<void> {
  await node.ok(
    ['kubectl', 'wait', '--for=condition=Ready', `pod/${name}`, `--timeout=${WAITS.rolloutMs / 1000}s`],
    WAITS.rolloutMs + 30_000,
  );
}

test('a fresh node starts', async () => {
  await node.ok(['start', '--address', address]);
  await waitReady(node);
});

test('bad input is refused with a stable code, and nothing is applied', async () => {
  const cases: [string[], string][] = [
    [['enable', 'no-such-addon'], 'MK_ADDON_UNKNOWN'],
    [['enable', 'dns:not-an-ip'], 'MK_ADDON_ARGS'],
    [['enable', 'dns:1.1.1.1', '--upstream', '8.8.8.8'], 'MK_ADDON_ARGS'],
    [['enable', 'dns', '--no-such-arg', 'x'], 'MK_ADDON_ARGS'],
    [['enable', 'storage:/x'], 'MK_ADDON_ARGS'],
  ];
  for (const [args, code] of cases) {
    const run = await node.run([...args, '--json']);
    assert.is(errorOf(run).code, code, `${args.join(' ')}: ${run.stdout}`);
    assert.is(run.code, 4);
  }
  assert.equal(await objectsOf('deployment,service,configmap,serviceaccount', 'kube-system', MANAGED), []);
  assert.is(existsSync(storageDir), false);
});

test('a failed enable rolls back what it applied and names the failed step', async () => {
  const repo = join(node.home, 'test-repo');
  mkdirSync(join(repo, 'failing'), { recursive: true });
  writeFileSync(
    join(repo, 'addons.yaml'),
    [
      'addons:',
      '  - name: failing',
      '    description: applies a ConfigMap, then fails',
      '    version: "0.1"',
      '    architectures: [amd64, arm64]',
      '    manifests: [probe.yaml]',
      '    plugin: plugin.ts',
      '    status: {apiVersion: v1, kind: ConfigMap, namespace: default, name: rollback-probe}',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(repo, 'failing', 'probe.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: rollback-probe, namespace: default}\ndata: {a: b}\n',
  );
  writeFileSync(
    join(repo, 'failing', 'plugin.ts'),
    [
      'export async function enable(ctx: any): Promise<void> {',
      '  await ctx.apply(ctx.manifests);',
      "  await ctx.step('the step that fails', async () => { throw new Error('on purpose'); });",
      '}',
      '',
    ].join('\n'),
  );
  assert.is((await node.run(['addons', 'repo', 'add', 'test', repo])).code, 0);
  const run = await node.run(['enable', 'test/failing', '--json'], ADDON_COMMAND_MS);
  const error = errorOf(run);
  assert.is(error.code, 'MK_ADDON_FAILED');
  assert.match(error.message, /at step 'the step that fails': on purpose; what it applied was rolled back/);
  assert.is(run.code, 1);
  assert.equal(await objectsOf('configmap', 'default', undefined), ['configmap/kube-root-ca.crt']);
  assert.is((await node.ok(['status', '-a', 'test/failing'])).trim(), 'disabled');
  assert.is((await node.run(['addons', 'repo', 'remove', 'test'])).code, 0);
});

test('a third-party addon from a local git repository enables; removing the repository drops it from status', async () => {
  const source = new GitSource(join(node.home, 'git-source'));
  source.commit('hello', configMapAddon('hello', 'from-git'));
  source.tag('v1');
  assert.is((await node.run(['addons', 'repo', 'add', 'third', source.url, '--reference', 'v1'])).code, 0);
  const on = await node.run(['enable', 'third/hello'], ADDON_COMMAND_MS);
  assert.is(on.code, 0, on.stdout + on.stderr);
  assert.is(
    (await node.kubectl('get', 'configmap', 'hello', '-o', 'jsonpath={.data.value}')).trim(),
    'from-git',
  );
  assert.match(
    await node.ok(['status']),
    /\n {4}hello +\(third\) a ConfigMap from a third-party git repository/,
  );
  const off = await node.run(['disable', 'third/hello'], ADDON_COMMAND_MS);
  assert.is(off.code, 0, off.stdout + off.stderr);
  assert.equal(await objectsOf('configmap', 'default', MANAGED), []);
  assert.is((await node.run(['addons', 'repo', 'remove', 'third'])).code, 0);
  const status = await node.ok(['status']);
  assert.match(status, /\naddons:\n/);
  assert.not.match(status, /\(third\)/);
});

test('a needs-registry addon without its images fails before applying anything, naming them', async () => {
  const run = await node.run(['enable', 'ingress', '--json'], ADDON_COMMAND_MS);
  const error = errorOf(run);
  assert.is(error.code, 'MK_ADDON_NEEDS_REGISTRY');
  assert.match(error.message, /ingress needs registry\.k8s\.io\/ingress-nginx\/controller:v1\.12\.1/);
  assert.is(run.code, 78);
  assert.is((await node.run(['kubectl', 'get', 'namespace', 'ingress'])).code, 1);
  assert.is((await node.kubectl('get', 'ingressclass', '-o', 'name')).trim(), '');
  assert.match(await node.ok(['status']), /\n {4}ingress +\(core\) .*\(needs a registry\)/);
});

test("the needs-registry addons' manifests pass the API server's own checks (server-side dry run)", async () => {
  const paths = resolvePaths({ MICROK8S_HOME: node.home });
  const addons = repositories().flatMap((r) => r.addons.filter((a) => a.needsRegistry));
  assert.ok(addons.length >= 5);
  const objects: KubeObject[] = [];
  for (const spec of addons) {
    const plugin = await loadPlugin(spec);
    objects.push(...renderAddon(spec, plugin.variables?.(nodeFacts(paths), {}) ?? {}).objects);
  }
  // A dry run creates nothing, namespaces included: the addons' own namespaces exist meanwhile.
  const namespaces = objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name);
  for (const ns of namespaces) await node.kubectl('create', 'namespace', ns);
  await applyJson('dry-run', { apiVersion: 'v1', kind: 'List', items: objects }, ['--dry-run=server']);
  await node.kubectl('delete', 'namespace', ...namespaces, '--wait=true');
  assert.is((await node.run(['kubectl', 'get', 'crd', 'certificates.cert-manager.io'])).code, 1);
});

test('host-access runs with its image mapped to the local busybox: the address comes and goes', async () => {
  const image = await busyboxImage(node);
  const upstream = 'docker.io/library/busybox:1.37.0';
  assert.is((await node.run(['addons', 'images', 'set', upstream, image])).code, 0);
  const loopback = () => execFileSync('ip', ['-4', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' });
  const on = await node.run(['enable', `host-access:${HOST_ACCESS_IP}`], ADDON_COMMAND_MS);
  assert.is(on.code, 0, on.stdout + on.stderr);
  assert.match(loopback(), new RegExp(`inet ${HOST_ACCESS_IP.replace(/\./g, '\\.')}/32 `));
  assert.is((await node.ok(['status', '-a', 'host-access'])).trim(), 'enabled');
  const off = await node.run(['disable', 'host-access'], ADDON_COMMAND_MS);
  assert.is(off.code, 0, off.stdout + off.stderr);
  assert.not.match(loopback(), new RegExp(`inet ${HOST_ACCESS_IP.replace(/\./g, '\\.')}/`));
  assert.is((await node.run(['addons', 'images', 'unset', upstream])).code, 0);
});

test('enable dns storage returns once both are ready', async () => {
  const started = Date.now();
  const run = await node.run(['enable', 'dns', 'storage'], ADDON_COMMAND_MS);
  const seconds = (Date.now() - started) / 1000;
  assert.is(run.code, 0, run.stdout + run.stderr);
  console.log(`enable dns storage: ${seconds.toFixed(1)} s\n${run.stdout.trim()}`);
  assert.match(run.stdout, /dns is enabled \(/);
  assert.match(run.stdout, /hostpath-storage is enabled \(/);
  // Ready at return: no waiting here.
  const deployments = await node.kubectlJson<{
    items: { metadata: { name: string }; status: { availableReplicas?: number } }[];
  }>('get', 'deployments', '-n', 'kube-system');
  const available = deployments.items
    .filter((d) => (d.status.availableReplicas ?? 0) >= 1)
    .map((d) => d.metadata.name);
  assert.equal(available.sort(), ['coredns', 'hostpath-provisioner']);
  const kubeletArgs = readFileSync(join(node.home, 'data', 'args', 'kubelet'), 'utf8');
  assert.match(kubeletArgs, /^--cluster-dns=10\.152\.183\.10$/m);
  assert.match(kubeletArgs, /^--cluster-domain=cluster\.local$/m);
});

test('status lists both as enabled; status -a answers per addon', async () => {
  const out = await node.ok(['status']);
  assert.match(out, /\naddons:\n {2}enabled:\n {4}dns +\(core\)/);
  assert.match(out, /\n {4}hostpath-storage +\(core\)/);
  assert.is((await node.ok(['status', '-a', 'dns'])).trim(), 'enabled');
  assert.is((await node.ok(['status', '-a', 'storage'])).trim(), 'enabled');
  const json = JSON.parse(await node.ok(['status', '--json'])) as { addons: { enabled: string[] } };
  // rbac is enabled on a fresh node (the API server starts with Node,RBAC).
  assert.equal(json.addons.enabled.sort(), ['dns', 'hostpath-storage', 'rbac']);
});

test('a pod resolves kubernetes.default.svc.cluster.local and a Service name through CoreDNS', async () => {
  const image = await busyboxImage(node);
  await applyJson('hello-svc', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'hello' },
    spec: { selector: { app: 'hello' }, ports: [{ port: 80 }] },
  });
  const helloIp = (await node.kubectl('get', 'service', 'hello', '-o', 'jsonpath={.spec.clusterIP}')).trim();
  const apiIp = (
    await node.kubectl('get', 'service', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}')
  ).trim();
  await applyJson('dns-pod', podSpec('dnscheck', image));
  await waitPodRunning('dnscheck');
  const lookup = (name: string, ip: string) =>
    until(`nslookup ${name}`, WAITS.rolloutMs, async () => {
      // busybox's nslookup exits 1 when any search-path candidate is NXDOMAIN, even when one
      // resolved: the answer's name and address are what count.
      const run = await node.run(['kubectl', 'exec', 'dnscheck', '--', 'nslookup', name]);
      const answer = new RegExp(
        `Name:\\s+${name.replace(/\./g, '\\.')}(\\.default\\.svc\\.cluster\\.local)?\\s+Address:\\s+${ip.replace(/\./g, '\\.')}\\b`,
      );
      return answer.test(run.stdout) ? run.stdout : undefined;
    });
  const api = await lookup('kubernetes.default.svc.cluster.local', apiIp);
  assert.match(api, /Server:\s+10\.152\.183\.10/);
  await lookup('hello.default.svc.cluster.local', helloIp);
  // The short name, through the pod's search path.
  await lookup('hello', helloIp);
  await node.kubectl('delete', 'pod', 'dnscheck', '--wait=true');
});

test('a claim on the default StorageClass is bound; its data survives the pod', async () => {
  const image = await busyboxImage(node);
  const sc = await node.kubectlJson<{ metadata: { annotations: Record<string, string> } }>(
    'get',
    'storageclass',
    'microk8s-hostpath',
  );
  assert.is(sc.metadata.annotations['storageclass.kubernetes.io/is-default-class'], 'true');
  await applyJson('claim', {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'data' },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '16Mi' } } },
  });
  await until('the claim is Bound', WAITS.rolloutMs, async () => {
    const phase = (await node.kubectl('get', 'pvc', 'data', '-o', 'jsonpath={.status.phase}')).trim();
    return phase === 'Bound' ? true : undefined;
  });
  await applyJson('writer', podSpec('writer', image, 'data'));
  await waitPodRunning('writer');
  await node.kubectl('exec', 'writer', '--', 'sh', '-c', 'echo kept-across-pods > /data/file');
  await node.kubectl('delete', 'pod', 'writer', '--wait=true');
  await applyJson('reader', podSpec('reader', image, 'data'));
  await waitPodRunning('reader');
  assert.is((await node.kubectl('exec', 'reader', '--', 'cat', '/data/file')).trim(), 'kept-across-pods');
  // The volume is a folder under the node's storage folder, named after its claim.
  const folders = readdirSync(storageDir);
  assert.is(folders.length, 1, folders.join(', '));
  assert.match(folders[0]!, /^default-data-pvc-/);
  assert.is(readFileSync(join(storageDir, folders[0]!, 'file'), 'utf8').trim(), 'kept-across-pods');
  await node.kubectl('delete', 'pod', 'reader', '--wait=true');
});

test('disable removes the objects; --purge removes the volumes folder', async () => {
  const dns = await node.run(['disable', 'dns'], ADDON_COMMAND_MS);
  assert.is(dns.code, 0, dns.stdout + dns.stderr);
  const storage = await node.run(['disable', 'storage', '--purge'], ADDON_COMMAND_MS);
  assert.is(storage.code, 0, storage.stdout + storage.stderr);
  assert.equal(await objectsOf('deployment,service,configmap,serviceaccount', 'kube-system', MANAGED), []);
  assert.equal(
    (
      await node.kubectl('get', 'clusterrole,clusterrolebinding,storageclass', '-o', 'name', '-l', MANAGED)
    ).trim(),
    '',
  );
  assert.is(existsSync(storageDir), false);
  assert.not.match(readFileSync(join(node.home, 'data', 'args', 'kubelet'), 'utf8'), /--cluster-dns/);
  assert.is((await node.ok(['status', '-a', 'dns'])).trim(), 'disabled');
  assert.is((await node.ok(['status', '-a', 'hostpath-storage'])).trim(), 'disabled');
  // What the claim left behind (its volume outlived the provisioner).
  await node.kubectl('delete', 'pvc', 'data', '--wait=false');
  await node.kubectl('delete', 'pv', '--all', '--wait=false');
});

test('two enables at once run one after the other under the cluster-wide lock', async () => {
  const [first, second] = await Promise.all([
    node.run(['enable', 'storage'], ADDON_COMMAND_MS),
    node.run(['enable', 'dns:10.200.0.254'], ADDON_COMMAND_MS),
  ]);
  assert.is(first.code, 0, first.stdout + first.stderr);
  assert.is(second.code, 0, second.stdout + second.stderr);
  const waited = [first, second].filter((r) => /waiting for the addon lock, held by enable/.test(r.stdout));
  assert.is(waited.length, 1, `${first.stdout}\n---\n${second.stdout}`);
  const corefile = await node.kubectl(
    'get',
    'configmap',
    'coredns',
    '-n',
    'kube-system',
    '-o',
    'jsonpath={.data.Corefile}',
  );
  assert.match(corefile, /forward \. 10\.200\.0\.254\n/);
  const off = await node.run(['disable', 'dns', 'storage', '--purge'], ADDON_COMMAND_MS);
  assert.is(off.code, 0, off.stdout + off.stderr);
});

test.run();
