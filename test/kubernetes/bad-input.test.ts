/**
 * What a user sees when something is missing or broken, without starting a node: stable codes
 * and hints, never a stack trace. inspect reports a broken args file and missing binaries with
 * a hint each, in its printout and in the tarball's report.txt.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KubeNode } from './node-cli.js';

const node = new KubeNode('mk8s-bad-input');
const emptyCache = mkdtempSync(join(tmpdir(), 'mk8s-no-upstream-'));
test.after(() => {
  rmSync(node.home, { recursive: true, force: true });
  rmSync(emptyCache, { recursive: true, force: true });
});

function noStack(text: string): void {
  assert.not.match(text, /\n\s+at /, 'no stack trace');
}

test('kubectl and config before the node has credentials: MK_NO_CREDENTIALS, exit 3', async () => {
  for (const args of [['kubectl', 'get', 'nodes'], ['config']]) {
    const r = await node.run(args);
    assert.is(r.code, 3, r.stderr);
    assert.match(r.stderr, 'Error [MK_NO_CREDENTIALS]');
    assert.match(r.stderr, 'Hint: ');
    noStack(r.stderr);
  }
});

test('start without the upstream build: MK_UPSTREAM_MISSING, exit 78, nothing set up', async () => {
  const r = await node.run(['start', '--address', '10.200.9.2'], 60_000, {
    MICROK8S_UPSTREAM_CACHE: emptyCache,
  });
  assert.is(r.code, 78, r.stderr);
  assert.match(r.stderr, 'Error [MK_UPSTREAM_MISSING]');
  assert.match(r.stderr, 'npm run build:upstream');
  noStack(r.stderr);
});

test('start --etcd-endpoints with a bad URL or a missing file: MK_INVALID_ARGUMENT, exit 4', async () => {
  const bad = await node.run(['start', '--etcd-endpoints', 'not a url', '--etcd-cafile', '/nonexistent']);
  assert.is(bad.code, 4, bad.stderr);
  assert.match(bad.stderr, 'MK_INVALID_ARGUMENT');
  noStack(bad.stderr);
});

test('configure of an unknown service: MK_SERVICE_UNKNOWN, exit 4 or usage (2)', async () => {
  const r = await node.run(['configure', 'kubelite', '--set', 'v=2', '--local']);
  assert.ok(r.code === 4 || r.code === 2, `${r.code} ${r.stderr}`);
  noStack(r.stderr);
});

test('inspect: a broken args file and missing binaries, each with a hint, in the printout and the tarball', async () => {
  const args = join(node.home, 'data', 'args');
  mkdirSync(args, { recursive: true });
  writeFileSync(join(args, 'kubelet'), '--config=/x\nthis is not a flag\n');
  const out = join(node.home, 'reports');
  mkdirSync(out);
  const r = await node.run(['inspect', '--output', out], 60_000, { MICROK8S_UPSTREAM_CACHE: emptyCache });
  assert.is(r.code, 0, r.stderr);
  noStack(r.stdout + r.stderr);
  assert.match(r.stdout, /\[!\] args kubelet: .*kubelet:2: 'this is not a flag' is not a flag line/);
  assert.match(r.stdout, /\[!\] binary kube-apiserver: missing/);
  assert.match(r.stdout, 'hint: Outside a snap, run `npm run build:upstream`');
  const tarball = /report written to (.+\.tar\.gz)/.exec(r.stdout)?.[1];
  assert.ok(tarball, r.stdout);
  const listing = execFileSync('tar', ['-tzf', tarball!], { encoding: 'utf8' });
  assert.match(listing, /inspection-report-[0-9TZ]+\/report\.txt/);
  assert.match(listing, /args\/kubelet/);
  const report = execFileSync('tar', ['-xzOf', tarball!, '--wildcards', '*/report.txt'], {
    encoding: 'utf8',
  });
  assert.match(report, 'PROBLEMS');
  assert.match(report, 'args kubelet');
  assert.not.match(report, /BEGIN (RSA |EC )?PRIVATE KEY/);
  assert.ok(readFileSync(tarball!).length > 0);
});

test.run();
