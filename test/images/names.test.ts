// Image names: full names only, local builds under localhost/, tags from Debian versions.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isMicroK8sError } from '../../src/lib/errors.js';
import {
  LOCAL_IMAGE_TABLE,
  localImageName,
  parseImageName,
  SANDBOX_IMAGE,
  tagFromVersion,
} from '../../src/services/images/names.js';

test('full names parse into registry, path and tag', () => {
  assert.equal(parseImageName('localhost/microk8s/pause:3.10-mk1'), {
    domain: 'localhost',
    path: 'microk8s/pause',
    tag: '3.10-mk1',
  });
  assert.equal(parseImageName('registry.example:5000/a/b_c:v1.2').domain, 'registry.example:5000');
});

test('short, untagged or uppercase names are refused', () => {
  for (const name of [
    'busybox',
    'busybox:1',
    'localhost/Pause:1',
    'localhost/pause',
    'localhost/pause:-x',
    '',
  ]) {
    try {
      parseImageName(name);
      assert.unreachable(name);
    } catch (error) {
      assert.ok(isMicroK8sError(error, 'MK_INVALID_ARGUMENT'), `${name}: ${error}`);
    }
  }
});

test('a local name must be under localhost/', () => {
  assert.is(localImageName(SANDBOX_IMAGE), SANDBOX_IMAGE);
  assert.throws(() => localImageName('registry.k8s.io/pause:3.10'), /must not pose/);
});

test('Debian versions become tags: epoch dropped, + and : replaced', () => {
  assert.is(tagFromVersion('1:1.35.0-4+deb12u1+b1'), '1.35.0-4-deb12u1-b1');
  assert.is(tagFromVersion('1.36.1-9'), '1.36.1-9');
  assert.is(tagFromVersion('2:1.0~rc1'), '1.0-rc1');
});

test('the images table maps upstream names to local ones only', () => {
  for (const [upstream, local] of Object.entries(LOCAL_IMAGE_TABLE)) {
    assert.not.ok(upstream.startsWith('localhost/'), upstream);
    assert.is(localImageName(local), local);
  }
});

test.run();
