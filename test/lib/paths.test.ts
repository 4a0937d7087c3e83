import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { packageRoot, resolvePaths } from '../../src/lib/paths.js';

test('inside a snap, SNAP_DATA and SNAP_COMMON decide', () => {
  const p = resolvePaths(
    {
      SNAP: '/snap/microk8s/12',
      SNAP_DATA: '/var/snap/microk8s/12',
      SNAP_COMMON: '/var/snap/microk8s/common',
    },
    '/home/u',
  );
  assert.is(p.inSnap, true);
  assert.is(p.install, '/snap/microk8s/12');
  assert.is(p.args, '/var/snap/microk8s/12/args');
  assert.is(p.certs, '/var/snap/microk8s/12/certs');
  // The datastore lives in SNAP_COMMON so a refresh never copies it per revision.
  assert.is(p.datastore, '/var/snap/microk8s/common/datastore');
});

test('outside a snap, a per-user folder', () => {
  const p = resolvePaths({}, '/home/u');
  assert.is(p.inSnap, false);
  assert.is(p.data, '/home/u/.local/share/microk8s/data');
  assert.is(p.datastore, '/home/u/.local/share/microk8s/common/datastore');
  assert.is(p.install, packageRoot());
});

test('XDG_DATA_HOME is honoured, MICROK8S_HOME wins over it', () => {
  assert.is(resolvePaths({ XDG_DATA_HOME: '/x' }, '/home/u').data, '/x/microk8s/data');
  const p = resolvePaths({ XDG_DATA_HOME: '/x', MICROK8S_HOME: '/nodes/n1' }, '/home/u');
  assert.is(p.data, '/nodes/n1/data');
  assert.is(p.run, '/nodes/n1/common/run');
});

test('two nodes on one machine do not share folders', () => {
  const a = resolvePaths({ MICROK8S_HOME: '/nodes/a' });
  const b = resolvePaths({ MICROK8S_HOME: '/nodes/b' });
  for (const key of ['data', 'common', 'args', 'certs', 'datastore', 'logs', 'run'] as const) {
    assert.is.not(a[key], b[key]);
  }
});

test('a relative override or a half-set snap environment is refused with a code', () => {
  for (const env of [
    { MICROK8S_HOME: 'rel/dir' },
    { SNAP: '/snap/x/1' },
    { SNAP: '/snap/x/1', SNAP_DATA: '/d' },
  ]) {
    try {
      resolvePaths(env);
      assert.unreachable('should have thrown');
    } catch (error) {
      assert.ok(isMicroK8sError(error, 'MK_INVALID_CONFIG'), String(error));
    }
  }
});

test.run();
