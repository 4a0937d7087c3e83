// The image recipes, built for real into a temp cache, then read by independent tools: skopeo
// (inspect, and copy, which verifies every digest) and umoci (unpack into a rootfs), and run:
// busybox's shell from the unpacked rootfs, our pause program with its signals.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildLocalImages } from '../../snap/local/images/build-images.js';
import type { BuiltImage } from '../../snap/local/images/recipe-cache.js';
import { inspectImageFile } from '../../src/services/images/image-archive.js';
import { SANDBOX_IMAGE } from '../../src/services/images/names.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'mk8s-recipes-'));
const cache = join(dir, 'cache');
let built: BuiltImage[] = [];
const lines: string[] = [];

test.before(async () => {
  // The independent readers, from Debian's packages when missing.
  execFileSync('bash', [join(ROOT, 'test/setup/apt-need.sh'), 'skopeo=skopeo', 'umoci=umoci'], {
    stdio: 'inherit',
  });
  built = await buildLocalImages(cache, (line) => lines.push(line));
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

function image(prefix: string): BuiltImage {
  const found = built.find((b) => b.name.startsWith(prefix));
  assert.ok(found, `no ${prefix} image in ${JSON.stringify(built)}`);
  return found;
}

function unpack(built: BuiltImage, name: string): string {
  const layout = join(dir, `${name}-layout`);
  const bundle = join(dir, `${name}-bundle`);
  execFileSync('mkdir', ['-p', layout]);
  execFileSync('tar', ['-xf', built.tar, '-C', layout]);
  execFileSync('umoci', ['unpack', '--image', `${layout}:${built.name}`, bundle]);
  return join(bundle, 'rootfs');
}

test('both images are built with local names, and our checker accepts them', async () => {
  assert.is(image('localhost/microk8s/pause:').name, SANDBOX_IMAGE);
  assert.match(image('localhost/microk8s/busybox:').name, /^localhost\/microk8s\/busybox:[\w.-]+$/);
  for (const b of built) {
    const report = await inspectImageFile(b.tar);
    assert.equal(
      report.images.map((i) => [i.name, i.digest]),
      [[b.name, b.digest]],
    );
  }
});

test('a second build with the same recipes is skipped and gives the same digests', async () => {
  const again = await buildLocalImages(cache, (line) => lines.push(line));
  assert.equal(again, built);
  assert.ok(lines.filter((l) => l.includes('up to date')).length >= 2, lines.join('\n'));
});

test('skopeo reads our archives: names, platform, config, and copies them (digests verified)', () => {
  for (const b of built) {
    const info = JSON.parse(
      execFileSync('skopeo', ['inspect', `oci-archive:${b.tar}`], { encoding: 'utf8' }),
    );
    assert.is(info.Digest, b.digest);
    assert.is(info.Architecture, 'amd64');
    assert.is(info.Os, 'linux');
    assert.is(info.Layers.length, 1);
    execFileSync('skopeo', [
      'copy',
      '--quiet',
      `oci-archive:${b.tar}`,
      `dir:${join(dir, `copy-${info.Digest.slice(7, 19)}`)}`,
    ]);
  }
  const config = JSON.parse(
    execFileSync('skopeo', ['inspect', '--config', `oci-archive:${image('localhost/microk8s/pause').tar}`], {
      encoding: 'utf8',
    }),
  );
  assert.equal(config.config.Entrypoint, ['/pause']);
  assert.is(config.config.User, '65535:65535');
});

test('umoci unpacks busybox; its shell, links, /tmp and users work', () => {
  const rootfs = unpack(image('localhost/microk8s/busybox'), 'busybox');
  // The applets through the image's own links: PATH is the unpacked /bin only.
  const out = execFileSync(
    join(rootfs, 'bin/sh'),
    ['-c', 'echo ok; wget --help 2>&1 | head -n 1; hostname'],
    {
      encoding: 'utf8',
      env: { PATH: join(rootfs, 'bin') },
    },
  );
  assert.match(out, /^ok\n/);
  assert.match(out, /BusyBox v\d/);
  for (const applet of ['sh', 'wget', 'httpd', 'nc', 'sleep', 'hostname', 'cat', 'ls', 'env']) {
    assert.is(
      execFileSync('readlink', [join(rootfs, 'bin', applet)], { encoding: 'utf8' }).trim(),
      'busybox',
    );
  }
  assert.match(readFileSync(join(rootfs, 'etc/passwd'), 'utf8'), /^root:x:0:0:/);
  assert.match(execFileSync('stat', ['-c', '%a', join(rootfs, 'tmp')], { encoding: 'utf8' }), /^1777/);
});

test('umoci unpacks pause; the program ends cleanly on SIGTERM and SIGINT', async () => {
  const rootfs = unpack(image('localhost/microk8s/pause'), 'pause');
  const binary = join(rootfs, 'pause');
  assert.match(execFileSync(binary, ['-v'], { encoding: 'utf8' }), /pause \(microk8s\) 3\.10-mk1/);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const child = spawn(binary, [], { stdio: 'ignore' });
    await sleep(200);
    assert.is(child.exitCode, null, 'pause blocks');
    child.kill(signal);
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    assert.is(code, 0, signal);
  }
});

test.run();
