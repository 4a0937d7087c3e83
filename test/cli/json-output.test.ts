// One output path for JSON: `--format json` and `--json` both print the result as JSON, and an
// error as a JSON object with its code, whichever command was asked and whichever spelling.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'run.js');
const home = mkdtempSync(join(tmpdir(), 'mk8s-json-'));
test.after(() => rmSync(home, { recursive: true, force: true }));

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, MICROK8S_HOME: home, SNAP: '' },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function errorCode(stdout: string): string | undefined {
  return (JSON.parse(stdout) as { error?: { code?: string } }).error?.code;
}

test('add-node --format json on a node without certificates: the error is JSON', () => {
  const r = run(['add-node', '--format', 'json']);
  assert.is.not(r.code, 0);
  assert.is(errorCode(r.stdout), 'MK_CERTS_MISSING', r.stdout + r.stderr);
  const text = run(['add-node']);
  assert.match(text.stderr, /Error \[MK_CERTS_MISSING\]/, 'without JSON, the error is text on stderr');
});

test('status: --format=json and --json print the same JSON error', () => {
  const a = run(['status', '--format=json']);
  const b = run(['status', '--json']);
  assert.is(a.code, 3);
  assert.is(errorCode(a.stdout), 'MK_NOT_RUNNING', a.stdout + a.stderr);
  assert.is(errorCode(b.stdout), errorCode(a.stdout));
});

test.run();
