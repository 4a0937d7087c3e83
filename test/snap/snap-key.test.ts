/**
 * The key a built .snap is cached under (snap/local/pack/snap-key.ts) covers what goes into it:
 * a change to dist/, to a hook, to a part's build or to an image gives another key, so a stale
 * .snap is never reused; the same inputs give the same key. On a copy of the project's inputs.
 */
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PARTS } from '../../snap/local/build/parts.js';
import { PROJECT_ROOT } from '../../snap/local/pack/project.js';
import { SNAP_RECIPE, snapInputsKey } from '../../snap/local/pack/snap-key.js';

const work = mkdtempSync(join(tmpdir(), 'snap-key-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const root = join(work, 'project');
const cache = join(work, 'cache');
for (const path of [
  'package.json',
  'package-lock.json',
  'bin',
  'dist',
  'src/datastore/etcd/proto',
  ...SNAP_RECIPE,
])
  cpSync(join(PROJECT_ROOT, path), join(root, path), { recursive: true });
mkdirSync(join(cache, 'bin'), { recursive: true });
mkdirSync(join(cache, 'images'), { recursive: true });
for (const part of PARTS) {
  mkdirSync(join(cache, 'parts', `${part.name}-aaaa`), { recursive: true });
  for (const binary of part.binaries) {
    writeFileSync(join(cache, 'parts', `${part.name}-aaaa`, binary.name), binary.name);
    symlinkSync(join(cache, 'parts', `${part.name}-aaaa`, binary.name), join(cache, 'bin', binary.name));
  }
}
writeFileSync(join(cache, 'images', 'pause.json'), '{"sha256":"1"}');

const key = () => snapInputsKey(root, cache);

test('same inputs, same key', () => {
  assert.is(key(), key());
  assert.match(key(), /^[0-9a-f]{20}$/);
});

test('a change to dist/ gives another key (no stale .snap after a build)', () => {
  const before = key();
  appendFileSync(join(root, 'dist', 'lifecycle', 'install.js'), '\n// changed\n');
  assert.is.not(key(), before);
});

test('a change to a hook, a part or an image gives another key', () => {
  let before = key();
  appendFileSync(join(root, 'snap', 'hooks', 'install'), '# changed\n');
  assert.is.not(key(), before);
  before = key();
  // A part built again: bin/ points into a folder with another cache key.
  const kubernetes = join(cache, 'bin', 'kubernetes');
  rmSync(kubernetes);
  mkdirSync(join(cache, 'parts', 'kubernetes-bbbb'));
  writeFileSync(join(cache, 'parts', 'kubernetes-bbbb', 'kubernetes'), 'kubernetes');
  symlinkSync(join(cache, 'parts', 'kubernetes-bbbb', 'kubernetes'), kubernetes);
  assert.is.not(key(), before);
  before = key();
  writeFileSync(join(cache, 'images', 'pause.json'), '{"sha256":"2"}');
  assert.is.not(key(), before);
  // Built again from another recipe, the same bytes: the same .snap.
  before = key();
  writeFileSync(join(cache, 'images', 'pause.json'), '{"sha256":"2","recipeHash":"other"}');
  assert.is(key(), before);
});

test.run();
