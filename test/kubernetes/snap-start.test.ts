/**
 * start and stop inside a snap: the same setup as outside, then snapd's services through
 * snapctl. snapd cannot run here, so a stand-in `snapctl` on PATH records its arguments; that
 * is the only thing mocked, and this test says so. Nothing is started for real.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KubeNode } from './node-cli.js';

const node = new KubeNode('mk8s-snap-start');
const root = mkdtempSync(join(tmpdir(), 'mk8s-snap-'));
const calls = join(root, 'snapctl.calls');
const fakeBin = join(root, 'bin');
const snapEnv = {
  SNAP: join(root, 'snap'),
  SNAP_DATA: join(root, 'data'),
  SNAP_COMMON: join(root, 'common'),
  SNAP_NAME: 'microk8s',
  PATH: `${fakeBin}:${process.env.PATH ?? ''}`,
};
test.after(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(node.home, { recursive: true, force: true });
});

test.before(() => {
  for (const dir of [fakeBin, snapEnv.SNAP, snapEnv.SNAP_DATA, snapEnv.SNAP_COMMON])
    mkdirSync(dir, { recursive: true });
  // The stand-in for snapd's snapctl (mocked: snapd does not exist here).
  writeFileSync(join(fakeBin, 'snapctl'), `#!/bin/sh\necho "$*" >> ${JSON.stringify(calls)}\n`);
  chmodSync(join(fakeBin, 'snapctl'), 0o755);
});

test('start in a snap: the node is set up, then snapctl starts and enables each service in order', async () => {
  const r = await node.run(['start', '--address', '10.200.9.3'], 120_000, snapEnv);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, 'started by snapd:');
  assert.ok(existsSync(join(snapEnv.SNAP_DATA, 'args', 'kube-apiserver')));
  assert.ok(existsSync(join(snapEnv.SNAP_DATA, 'args', 'containerd.toml')));
  assert.ok(existsSync(join(snapEnv.SNAP_DATA, 'args', 'flanneld')));
  assert.ok(existsSync(join(snapEnv.SNAP_DATA, 'args', 'flannel-network-mgr-config')));
  assert.equal(readFileSync(calls, 'utf8').trim().split('\n'), [
    'start --enable microk8s.daemon-datastore',
    'start --enable microk8s.daemon-cluster-agent',
    'start --enable microk8s.daemon-containerd',
    'start --enable microk8s.daemon-kube-apiserver',
    'start --enable microk8s.daemon-kube-controller-manager',
    'start --enable microk8s.daemon-kube-scheduler',
    'start --enable microk8s.daemon-flanneld',
    'start --enable microk8s.daemon-kubelet',
    'start --enable microk8s.daemon-kube-proxy',
  ]);
});

test('stop in a snap: snapctl stops and disables them in reverse order', async () => {
  rmSync(calls);
  const r = await node.run(['stop'], 60_000, snapEnv);
  assert.is(r.code, 0, r.stderr);
  const lines = readFileSync(calls, 'utf8').trim().split('\n');
  assert.is(lines[0], 'stop --disable microk8s.daemon-kube-proxy');
  assert.is(lines.at(-1), 'stop --disable microk8s.daemon-datastore');
  assert.is(lines.length, 9);
});

test.run();
