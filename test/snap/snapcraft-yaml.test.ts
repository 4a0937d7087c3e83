/**
 * snap/snapcraft.yaml: valid against ../shared/schemas/snapcraft.json, strict on core24, and in
 * step with the code: one daemon app per service of the catalog, ordered as the catalog starts
 * them, each off at install and stopped without killing the pods; one part per pinned upstream
 * part, built by the same recipe; the host paths the kubelet and CNI expect laid out.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PARTS } from '../../snap/local/build/parts.js';
import { readSnapcraft, snapcraftSchemaErrors } from '../../snap/local/pack/project.js';
import { SERVICE_NAMES } from '../../src/services/catalog.js';

const project = readSnapcraft();

test('valid against the snapcraft schema; a wrong value is refused by it', () => {
  assert.equal(snapcraftSchemaErrors(project), []);
  assert.ok(snapcraftSchemaErrors({ ...project, confinement: 'loose' }).length > 0);
  const apps = { ...project.apps, microk8s: { ...project.apps.microk8s!, 'stop-mode': 'sigkill' } };
  assert.ok(snapcraftSchemaErrors({ ...project, apps }).length > 0);
});

test('strict, core24, stable, with system user names', () => {
  assert.is(project.confinement, 'strict');
  assert.is(project.base, 'core24');
  assert.is(project.grade, 'stable');
  assert.ok(project['system-usernames']);
});

test('the apps: microk8s, one daemon per service of the catalog, the launch-config oneshot, nothing else', () => {
  const expected = ['microk8s', 'launch-config', ...SERVICE_NAMES.map((name) => `daemon-${name}`)].sort();
  assert.equal(Object.keys(project.apps).sort(), expected);
  assert.is(project.apps.microk8s?.daemon, undefined);
  // Run once by configure when the install queued addons; never started with the node.
  const launch = project.apps['launch-config']!;
  assert.is(launch.daemon, 'oneshot');
  assert.is(launch['install-mode'], 'disable');
  assert.equal(launch.after, ['daemon-kube-apiserver']);
  assert.is(launch.command, 'commands/microk8s launch-config apply --wait 900');
});

test('each daemon: off at install, restarted, pods survive its stop, after what it needs only', () => {
  const order = SERVICE_NAMES.map((name) => `daemon-${name}`);
  for (const service of SERVICE_NAMES) {
    const name = `daemon-${service}`;
    const app = project.apps[name]!;
    assert.is(app.daemon, 'simple', name);
    assert.is(app['install-mode'], 'disable', name);
    assert.ok(app['restart-condition'], name);
    // sigterm, not sigterm-all: the shims in the daemon's cgroup (the pods) are left running.
    assert.is(app['stop-mode'], 'sigterm', name);
    assert.is(app.command, `commands/run-daemon ${service}`);
    for (const dependency of app.after ?? []) {
      assert.ok(order.indexOf(dependency) >= 0, `${name} after ${dependency}: not a daemon`);
      assert.ok(
        order.indexOf(dependency) < order.indexOf(name),
        `${name} after ${dependency}: catalog order`,
      );
    }
  }
});

test('plugs: the ones a strict Kubernetes node needs, and every app plug is declared or an interface', () => {
  const plugs = new Set(project.apps.microk8s?.plugs ?? []);
  for (const plug of [
    'kubernetes-support',
    'network-control',
    'firewall-control',
    'docker-privileged',
    'mount-observe',
  ])
    assert.ok(plugs.has(plug), plug);
  const declared = project.plugs as Record<string, { interface: string }>;
  assert.is(declared['docker-privileged']?.interface, 'docker-support');
  for (const hook of ['install', 'configure', 'pre-refresh', 'post-refresh', 'remove'])
    assert.ok(project.hooks?.[hook], hook);
});

test('layouts for the host paths pods and tools expect', () => {
  const layout = project.layout ?? {};
  assert.is(layout['/var/lib/kubelet']?.bind, '$SNAP_COMMON/var/lib/kubelet');
  assert.is(layout['/etc/cni/net.d']?.bind, '$SNAP_DATA/args/cni-network');
  assert.ok(layout['/var/log/pods']);
  assert.ok(layout['/opt/cni/bin']);
});

test('parts: each pinned upstream part through the same recipe, plus Node, our package and the wrappers', () => {
  for (const part of PARTS) {
    const spec = project.parts[part.name];
    assert.ok(spec, `no snapcraft part ${part.name}`);
    assert.match(String(spec['override-build']), `snap/local/build/part.ts ${part.name} `);
  }
  for (const name of ['node', 'microk8s', 'images', 'wrappers']) assert.ok(project.parts[name], name);
  assert.match(String(project.parts.microk8s?.['override-build']), 'npm run build');
});

test.run();
