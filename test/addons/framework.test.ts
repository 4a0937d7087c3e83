/**
 * The addon framework without daemons: every core addon's manifests render and pass the
 * Kubernetes schemas; the argument grammar; repositories; and the bad input that must be
 * refused with a stable code before anything could be applied.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAddonWords, resolveArgs } from '../../src/addons/args.js';
import { nodeFacts } from '../../src/addons/context.js';
import { absentRegistryImages } from '../../src/addons/images.js';
import { resolveRequests } from '../../src/addons/operations.js';
import { loadPlugin } from '../../src/addons/plugin-loader.js';
import { parseObjects, renderAddon } from '../../src/addons/render.js';
import { repositories } from '../../src/addons/repo-store.js';
import { findAddon, loadRepository } from '../../src/addons/repository.js';
import { isServiceArgStatus } from '../../src/addons/spec.js';
import { crdSchemas } from '../../src/addons/validate/crd.js';
import { schemaFileName, validateObject } from '../../src/addons/validate/manifests.js';
import { resolvePaths } from '../../src/lib/paths.js';
import { COREDNS_IMAGE, HOSTPATH_PROVISIONER_IMAGE } from '../../src/services/images/names.js';
import { throwsCode } from './throws-code.js';

const scratch = mkdtempSync(join(tmpdir(), 'mk8s-addons-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

const paths = resolvePaths({ MICROK8S_HOME: join(scratch, 'home') });

test('every core addon renders and every object passes the Kubernetes 1.36 schemas', async () => {
  const [core] = repositories();
  assert.ok(core && core.addons.length >= 2);
  for (const spec of core.addons) {
    const plugin = await loadPlugin(spec);
    const rendered = renderAddon(spec, plugin.variables?.(nodeFacts(paths), {}) ?? {});
    // A setting (rbac: the API server's args) has no objects.
    assert.ok(rendered.objects.length > 0 || isServiceArgStatus(spec.status), spec.name);
    // Custom resources against the addon's own CRDs, as render and apply check them.
    const custom = crdSchemas(rendered.objects);
    for (const object of rendered.objects) validateObject(object, spec.name, undefined, custom);
    if (spec.needsRegistry) {
      // Upstream builds no Go module of ours stands in for: each is declared in the index.
      for (const image of rendered.images) assert.ok(spec.images.includes(image), `${spec.name}: ${image}`);
    } else {
      // Every image is a local build after the table: nothing is pulled.
      for (const image of rendered.images) assert.match(image, /^localhost\/microk8s\//);
    }
  }
  // The rest of MicroK8s's core list ships too, each marked as needing a registry.
  for (const name of ['ingress', 'cert-manager', 'dashboard', 'host-access', 'observability']) {
    const spec = core.addons.find((a) => a.name === name);
    assert.ok(spec?.needsRegistry, name);
  }
});

test('cert-manager ships the six resource types its controllers watch, as checked CRDs', async () => {
  const spec = findAddon(repositories(), 'cert-manager');
  const crds = renderAddon(spec, {}).objects.filter((o) => o.kind === 'CustomResourceDefinition');
  assert.equal(crds.map((c) => (c.metadata as { name: string }).name).sort(), [
    'certificaterequests.cert-manager.io',
    'certificates.cert-manager.io',
    'challenges.acme.cert-manager.io',
    'clusterissuers.cert-manager.io',
    'issuers.cert-manager.io',
    'orders.acme.cert-manager.io',
  ]);
  const [first] = crds;
  const broken = structuredClone(first!);
  (broken.spec as { versions: { served: unknown }[] }).versions[0]!.served = 'yes';
  throwsCode(
    () => validateObject(broken, 'crds.yaml'),
    'MK_ADDON_MANIFEST_INVALID',
    /spec\.versions\[0\]\.served must be boolean/,
  );
});

test('host-access: its address from the argument (default 10.0.1.1), one IP only', async () => {
  const spec = findAddon(repositories(), 'host-access');
  const plugin = await loadPlugin(spec);
  const script = (vars: Record<string, string>) =>
    JSON.stringify(renderAddon(spec, vars).objects[0]!.spec).match(/ip addr add (\S+) dev lo/)?.[1];
  assert.is(script(plugin.variables!(nodeFacts(paths), {})), '10.0.1.1/32');
  const args = resolveArgs(spec, parseAddonWords(['host-access:10.0.9.9'])[0]!);
  assert.is(script(plugin.variables!(nodeFacts(paths), args)), '10.0.9.9/32');
  throwsCode(
    () => resolveArgs(spec, parseAddonWords(['host-access:10.0.1.1,10.0.1.2'])[0]!),
    'MK_ADDON_ARGS',
    /takes one IP address/,
  );
});

test('a needs-registry addon lacks exactly the images neither present nor a local build', () => {
  const present = new Set(['docker.io/library/busybox:1.37.0']);
  assert.equal(
    absentRegistryImages(
      [
        'docker.io/library/busybox:1.37.0',
        'localhost/microk8s/busybox:1',
        'quay.io/jetstack/cert-manager-webhook:v1.17.2',
      ],
      present,
    ),
    ['quay.io/jetstack/cert-manager-webhook:v1.17.2'],
  );
});

test('the images table maps the dns manifest to the local CoreDNS; storage names its own build', async () => {
  const repos = repositories();
  const dns = findAddon(repos, 'dns');
  const storage = findAddon(repos, 'storage');
  assert.is(storage.name, 'hostpath-storage');
  const dnsVars = (await loadPlugin(dns)).variables!(nodeFacts(paths), { upstream: ['1.1.1.1'] });
  const rendered = renderAddon(dns, dnsVars);
  assert.equal(rendered.images, [COREDNS_IMAGE]);
  const corefile = rendered.objects.find((o) => o.kind === 'ConfigMap')?.data as { Corefile: string };
  assert.match(corefile.Corefile, /forward \. 1\.1\.1\.1\n/);
  assert.match(corefile.Corefile, /kubernetes cluster\.local in-addr\.arpa/);
  const storageVars = (await loadPlugin(storage)).variables!(nodeFacts(paths), {});
  assert.equal(renderAddon(storage, storageVars).images, [HOSTPATH_PROVISIONER_IMAGE]);
});

test('a manifest that breaks the schema is refused, naming the object and the field', () => {
  const [deployment] = parseObjects(
    [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: {name: web, namespace: demo}',
      'spec:',
      '  selector: {matchLabels: {app: web}}',
      '  template:',
      '    metadata: {labels: {app: web}}',
      '    spec:',
      '      containers:',
      '        - name: web',
      '          image: localhost/microk8s/busybox:1',
      '          imagePullPolcy: Always',
    ].join('\n'),
    'test.yaml',
  );
  throwsCode(
    () => validateObject(deployment!, 'test.yaml'),
    'MK_ADDON_MANIFEST_INVALID',
    /test\.yaml: Deployment demo\/web: spec\.template\.spec\.containers\[0\]\.imagePullPolcy is not a field/,
  );
  const [service] = parseObjects(
    'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: "x"}]}',
    't',
  );
  throwsCode(
    () => validateObject(service!, 't'),
    'MK_ADDON_MANIFEST_INVALID',
    /spec\.ports\[0\]\.port must be integer/,
  );
  const [unknown] = parseObjects('apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}', 't');
  throwsCode(() => validateObject(unknown!, 't'), 'MK_ADDON_MANIFEST_INVALID', /has no schema/);
  assert.is(schemaFileName('apps/v1', 'Deployment'), 'deployment-apps-v1.json');
  assert.is(schemaFileName('rbac.authorization.k8s.io/v1', 'ClusterRole'), 'clusterrole-rbac-v1.json');
  assert.is(schemaFileName('v1', 'ConfigMap'), 'configmap-v1.json');
});

test('arguments: NAME:VALUE and --flag VALUE; mixed styles, bad IPs and unknown flags are refused', () => {
  const dns = findAddon(repositories(), 'dns');
  const [colon] = parseAddonWords(['dns:1.1.1.1,8.8.8.8']);
  assert.equal(resolveArgs(dns, colon!), { upstream: ['1.1.1.1', '8.8.8.8'] });
  const requests = parseAddonWords(['dns', '--upstream', '1.1.1.1', 'storage']);
  assert.equal(
    requests.map((r) => r.requested),
    ['dns', 'storage'],
  );
  assert.equal(resolveArgs(dns, requests[0]!), { upstream: ['1.1.1.1'] });
  assert.equal(resolveArgs(dns, parseAddonWords(['dns', '--upstream=9.9.9.9'])[0]!), {
    upstream: ['9.9.9.9'],
  });
  throwsCode(
    () => resolveArgs(dns, parseAddonWords(['dns:not-an-ip'])[0]!),
    'MK_ADDON_ARGS',
    /takes IP addresses, got 'not-an-ip'/,
  );
  throwsCode(() => parseAddonWords(['dns:1.1.1.1', '--upstream', '8.8.8.8']), 'MK_ADDON_ARGS', /not both/);
  throwsCode(() => parseAddonWords(['--upstream', '8.8.8.8', 'dns']), 'MK_ADDON_ARGS', /before any addon/);
  throwsCode(
    () => resolveArgs(dns, parseAddonWords(['dns', '--nope', 'x'])[0]!),
    'MK_ADDON_ARGS',
    /no argument --nope/,
  );
  throwsCode(() => parseAddonWords([]), 'MK_ADDON_ARGS');
  const storage = findAddon(repositories(), 'hostpath-storage');
  throwsCode(
    () => resolveArgs(storage, parseAddonWords(['storage:x'])[0]!),
    'MK_ADDON_ARGS',
    /takes no NAME:VALUE/,
  );
});

test('names: unknown addons and repositories; REPO/NAME', () => {
  const repos = repositories();
  assert.is(findAddon(repos, 'core/dns').name, 'dns');
  throwsCode(
    () => findAddon(repos, 'no-such-addon'),
    'MK_ADDON_UNKNOWN',
    /known: .*\bdns\b.*\bhostpath-storage\b/,
  );
  throwsCode(() => findAddon(repos, 'other/dns'), 'MK_ADDON_UNKNOWN', /no repository 'other'/);
});

test('a repository without an index, or with a broken one, is MK_ADDON_REPOSITORY naming the field', () => {
  const empty = join(scratch, 'empty-repo');
  mkdirSync(empty, { recursive: true });
  throwsCode(() => loadRepository('empty', empty), 'MK_ADDON_REPOSITORY', /has no addons\.yaml/);
  const broken = join(scratch, 'broken-repo');
  mkdirSync(join(broken, 'thing'), { recursive: true });
  writeFileSync(
    join(broken, 'addons.yaml'),
    'addons:\n  - name: thing\n    description: x\n    version: "1"\n    architectures: [amd64]\n    dependancies: [dns]\n    status: {apiVersion: v1, kind: ConfigMap, name: x}\n',
  );
  throwsCode(
    () => loadRepository('broken', broken),
    'MK_ADDON_REPOSITORY',
    /addons\[0\]\.dependancies is not a known field/,
  );
});

test("rbac's status is a service arg on every control-plane node; a status naming no service is refused", () => {
  const rbac = findAddon(repositories(), 'rbac');
  assert.equal(rbac.status, { service: 'kube-apiserver', arg: 'authorization-mode', includes: 'RBAC' });
  assert.equal(rbac.manifests, []);
  const dir = join(scratch, 'bad-status-repo');
  mkdirSync(join(dir, 'thing'), { recursive: true });
  const refused = (status: string, why: RegExp) => {
    const entry = `  - name: thing\n    description: x\n    version: "1"\n    architectures: [amd64]\n    status: ${status}\n`;
    writeFileSync(join(dir, 'addons.yaml'), `addons:\n${entry}`);
    throwsCode(() => loadRepository('bad', dir), 'MK_ADDON_REPOSITORY', why);
  };
  refused(
    '{service: kube-apiservr, arg: authorization-mode, includes: RBAC}',
    /addons\[0\]\.status\.service must be one of/,
  );
  refused(
    '{service: kubelet, arg: x, includes: y, name: z}',
    /addons\[0\]\.status\.name is not a known field/,
  );
});

function addonEntry(name: string, deps: string[]): string {
  return [
    `  - name: ${name}`,
    `    description: ${name}`,
    '    version: "1"',
    '    architectures: [amd64, arm64]',
    `    dependencies: [${deps.join(', ')}]`,
    `    status: {apiVersion: v1, kind: ConfigMap, namespace: default, name: ${name}}`,
  ].join('\n');
}

function repoOf(name: string, entries: [string, string[]][]) {
  const dir = join(scratch, name);
  for (const [addon] of entries) mkdirSync(join(dir, addon), { recursive: true });
  writeFileSync(
    join(dir, 'addons.yaml'),
    `addons:\n${entries.map(([a, d]) => addonEntry(a, d)).join('\n')}\n`,
  );
  return loadRepository(name, dir);
}

test('dependencies are declared and come first, each once; a cycle is refused', () => {
  const repo = repoOf('deps-repo', [
    ['app', ['db', 'cache']],
    ['db', ['base']],
    ['cache', ['base']],
    ['base', []],
  ]);
  const order = resolveRequests([repo], parseAddonWords(['app', 'cache'])).map((r) => r.spec.name);
  assert.equal(order, ['base', 'db', 'cache', 'app']);
  const cyclic = repoOf('cycle-repo', [
    ['a', ['b']],
    ['b', ['a']],
  ]);
  throwsCode(() => resolveRequests([cyclic], parseAddonWords(['a'])), 'MK_ADDON_REPOSITORY', /cycle/);
});

test('a template variable without a value is refused, not left empty', () => {
  const dns = findAddon(repositories(), 'dns');
  throwsCode(
    () => renderAddon(dns, { clusterDns: '10.152.183.10', clusterDomain: 'cluster.local' }),
    'MK_ADDON_MANIFEST_INVALID',
    /\{\{ upstream \}\}/,
  );
});

test.run();
