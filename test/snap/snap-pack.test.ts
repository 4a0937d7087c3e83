/**
 * `npm run snap`'s parts: the prime tree assembled from the real parts (the upstream build
 * cache, the pinned Node, dist/), checked as snapd would (meta/snap.yaml's fields, every app's
 * command and hook executable, every ELF binary of the snap's architecture), the CLI run from
 * the tree, and a squashfs made with snapd's mksquashfs options, listed and unpacked again.
 * Packing the whole tree with xz takes minutes on two cores (`npm run snap` does that, once per
 * set of inputs, and hooks.test.ts checks and runs that .snap unpacked); the pack here is of
 * the tree's metadata, commands and one real binary, through the same code.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { assemblePrime } from '../../snap/local/pack/assemble.js';
import { checkPrimeTree } from '../../snap/local/pack/check.js';
import { elfArchitecture } from '../../snap/local/pack/elf.js';
import { PRIME } from '../../snap/local/pack/layout.js';
import { readSnapcraft, snapCacheDir } from '../../snap/local/pack/project.js';
import { snapArchitecture } from '../../snap/local/pack/snap-yaml.js';
import { ensureSquashfsTools, listSquashfs, packSquashfs } from '../../snap/local/pack/squashfs.js';
import { upstreamCacheDir } from '../../src/lib/upstream-paths.js';

// On the cache's file system, so that the large files are hard links, not copies.
mkdirSync(snapCacheDir(), { recursive: true });
const work = mkdtempSync(join(snapCacheDir(), 'test-'));
const prime = join(work, 'prime');
const arch = snapArchitecture();
test.after(() => rmSync(work, { recursive: true, force: true }));

test("the prime tree assembles from the build cache and passes snapd's checks", () => {
  const bin = join(upstreamCacheDir(), 'bin', 'kubelet');
  assert.ok(
    existsSync(bin),
    `no upstream build at ${bin}: npm test runs \`npm run build:upstream\` first (pretest)`,
  );
  const tree = assemblePrime({ prime, upstreamCache: upstreamCacheDir() });
  assert.is(tree.architecture, arch);
  const check = checkPrimeTree(prime);
  assert.equal(check.problems, []);
  // kubernetes (multi-call), containerd x3, runc, CNI x4, etcd x2, node, the SQLite addon at least.
  assert.ok(check.elfFiles >= 13, `${check.elfFiles} ELF files`);
  for (const file of ['bin/kubernetes', 'bin/containerd', 'bin/runc', 'opt/cni/bin/bridge', 'node/bin/node'])
    assert.is(elfArchitecture(join(prime, file)), arch, file);
  assert.is(
    elfArchitecture(
      join(prime, 'app', 'node_modules', 'better-sqlite3', 'prebuilds', `linux-${process.arch}.node`),
    ),
    arch,
  );
  assert.not.ok(existsSync(join(prime, 'app', 'node_modules', 'typescript')), 'dev dependencies stay out');
  assert.ok(
    existsSync(join(prime, 'app', 'src', 'datastore', 'etcd', 'proto')),
    "the package's files are in",
  );
});

test("meta/snap.yaml is snapcraft.yaml's runtime half", () => {
  const snap = parse(readFileSync(join(prime, PRIME.snapYaml), 'utf8')) as Record<string, unknown>;
  const project = readSnapcraft();
  for (const key of ['name', 'version', 'summary', 'base', 'confinement', 'grade'])
    assert.is(snap[key], project[key], key);
  assert.equal(snap.architectures, [arch]);
  assert.equal(Object.keys(snap.apps as object).sort(), Object.keys(project.apps).sort());
  assert.equal(Object.keys(snap.hooks as object).sort(), [
    'configure',
    'gate-auto-refresh',
    'install',
    'post-refresh',
    'pre-refresh',
    'remove',
  ]);
  for (const key of ['parts', 'platforms', 'compression']) assert.is(snap[key], undefined, key);
  const kubelet = (snap.apps as Record<string, Record<string, unknown>>)['daemon-kubelet']!;
  assert.is(kubelet['stop-mode'], 'sigterm');
  assert.is(kubelet['install-mode'], 'disable');
});

test('the microk8s app runs from the tree on its own Node', () => {
  const data = join(work, 'data');
  const common = join(work, 'common');
  const r = spawnSync(join(prime, 'commands', 'microk8s'), ['version'], {
    env: {
      PATH: '/usr/bin:/bin',
      SNAP: prime,
      SNAP_DATA: data,
      SNAP_COMMON: common,
      SNAP_VERSION: '1.36.3',
      SNAP_REVISION: '7',
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, 'revision 7');
});

test("a squashfs made with snapd's options lists and unpacks to a valid snap", () => {
  ensureSquashfsTools(() => {});
  const small = join(work, 'small');
  for (const part of [PRIME.meta, PRIME.commands, PRIME.cniBin])
    cpSync(join(prime, part), join(small, part), { recursive: true });
  const file = join(work, 'small.snap');
  const packed = packSquashfs(small, file);
  assert.ok(packed.bytes > 0 && statSync(file).size === packed.bytes);
  // What snapd's options make of an image, read back from its superblock.
  const superblock = execFileSync('unsquashfs', ['-s', file]).toString();
  for (const line of [
    'Compression xz',
    'Fragments are not stored',
    'Xattrs are not stored',
    'Number of ids 1',
  ])
    assert.match(superblock, line);
  const listed = listSquashfs(file);
  for (const path of [
    'meta/snap.yaml',
    'meta/hooks/pre-refresh',
    'commands/run-daemon',
    'opt/cni/bin/loopback',
  ])
    assert.ok(listed.includes(path), `${path} in ${listed.join(' ')}`);
  const unpacked = join(work, 'unpacked');
  execFileSync('unsquashfs', ['-d', unpacked, file], { stdio: 'ignore' });
  assert.equal(checkPrimeTree(unpacked).problems, []);
  assert.is(statSync(join(unpacked, 'meta', 'hooks', 'install')).mode & 0o777, 0o755);
  assert.is(statSync(join(unpacked, 'opt', 'cni', 'bin', 'loopback')).uid, 0);
});

test('a tree with a binary of another architecture is refused', () => {
  const bad = join(work, 'bad');
  cpSync(join(prime, PRIME.meta), join(bad, PRIME.meta), { recursive: true });
  cpSync(join(prime, PRIME.commands), join(bad, PRIME.commands), { recursive: true });
  const other = process.arch === 'x64' ? 'arm64' : 'x64';
  const addon = join(process.cwd(), 'node_modules', 'better-sqlite3', 'prebuilds', `linux-${other}.node`);
  cpSync(addon, join(bad, 'bin', 'foreign.node'));
  const problems = checkPrimeTree(bad).problems;
  assert.is(problems.length, 1, problems.join('; '));
  assert.match(problems[0]!, 'bin/foreign.node is built for');
});

test.run();
