// `microk8s images import|export-local` as a user runs them: bad archives and a node without
// containerd get their stable codes and exit codes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { layoutTar } from '../../src/services/images/oci-layout.js';
import { writeTar } from '../../src/services/images/tar-write.js';
import { sampleImage } from './helpers.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'run.js');
const home = mkdtempSync(join(tmpdir(), 'mk8s-images-cli-'));

function run(args: string[], input?: Buffer) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    input,
    env: { ...process.env, MICROK8S_HOME: home, XDG_CACHE_HOME: join(home, 'cache'), SNAP: '' },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test.before(() => {
  assert.ok(
    existsSync(join(ROOT, 'dist', 'commands', 'images')),
    'run `npm run build` first (npm test does)',
  );
});
test.after(() => rmSync(home, { recursive: true, force: true }));

test('a file that is not an image: MK_IMAGE_INVALID, exit 4', () => {
  const garbage = join(home, 'garbage.tar');
  writeFileSync(garbage, 'this is not a tar file\n'.repeat(100));
  const r = run(['images', 'import', garbage]);
  assert.is(r.code, 4, r.stderr);
  assert.match(r.stderr, /MK_IMAGE_INVALID/);
  const plain = join(home, 'plain.tar');
  writeFileSync(plain, writeTar([{ type: 'file', path: 'a.txt', mode: 0o644, data: Buffer.from('a') }]));
  const p = run(['images', 'import', plain, '--json']);
  assert.is(p.code, 4, p.stderr);
  assert.is(JSON.parse(p.stdout).error.code, 'MK_IMAGE_INVALID');
  assert.match(JSON.parse(p.stdout).error.message, /not an image: no index.json or manifest.json/);
});

test('stdin that is not an image: MK_IMAGE_INVALID, exit 4', () => {
  const r = run(['images', 'import', '-'], Buffer.from('{"not": "a tar"}'));
  assert.is(r.code, 4, r.stderr);
  assert.match(r.stderr, /MK_IMAGE_INVALID/);
});

test('a good image while containerd is not running: MK_CONTAINERD_UNAVAILABLE, exit 3', () => {
  const good = join(home, 'good.tar');
  writeFileSync(good, layoutTar([sampleImage()]));
  const r = run(['images', 'import', good]);
  assert.is(r.code, 3, r.stderr);
  assert.match(r.stderr, /MK_CONTAINERD_UNAVAILABLE/);
  const s = run(['images', 'import', '-'], layoutTar([sampleImage()]));
  assert.is(s.code, 3, s.stderr);
  const e = run(['images', 'export-local', '--output', join(home, 'out.tar')]);
  assert.is(e.code, 3, e.stderr);
  assert.match(e.stderr, /MK_CONTAINERD_UNAVAILABLE/);
});

test.run();
