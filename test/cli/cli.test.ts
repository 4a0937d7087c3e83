// Runs the real CLI as a child process, as a user would.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'run.js');
const home = mkdtempSync(join(tmpdir(), 'mk8s-cli-'));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, MICROK8S_HOME: home, SNAP: '', SNAP_VERSION: '', ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test.before(() => {
  assert.ok(existsSync(join(ROOT, 'dist', 'commands')), 'run `npm run build` first (npm test does)');
});
test.after(() => rmSync(home, { recursive: true, force: true }));

test('--help lists every command with a summary', () => {
  const r = run(['--help']);
  assert.is(r.code, 0, r.stderr);
  for (const command of ['version', 'status']) assert.match(r.stdout, new RegExp(`\\n\\s+${command}\\s+\\S`));
});

test('version prints the package version outside a snap', () => {
  const r = run(['version']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim(), `microk8s ${pkg.version} revision dev`);
});

test('version --json inside a snap uses SNAP_VERSION and SNAP_REVISION', () => {
  const r = run(['version', '--json'], { SNAP_VERSION: 'v1.36.0', SNAP_REVISION: '7123' });
  assert.is(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), { version: 'v1.36.0', revision: '7123', source: 'snap' });
});

test('status says honestly that nothing runs', () => {
  // Not running is an error with its own code and exit 3, as MicroK8s's status exits non-zero.
  const r = run(['status']);
  assert.is(r.code, 3, r.stderr);
  assert.match(r.stderr, /MK_NOT_RUNNING\]: microk8s is not running/);
  const json = JSON.parse(run(['status', '--json']).stdout);
  assert.is(json.error.code, 'MK_NOT_RUNNING');
  assert.equal(json.error.services, []);
});

test('an unknown command is a clear error with a non-zero exit', () => {
  const r = run(['frobnicate']);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /command frobnicate not found/);
  assert.is(r.stdout, '');
});

test('an older Node is refused before anything loads', () => {
  // Look for another node on PATH (outside the project's pinned one) that is older than 24.
  const candidates = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((d) => d && !d.includes('node_modules'));
  const old = candidates
    .map((d) => join(d, 'node'))
    .find((p) => {
      if (!existsSync(p)) return false;
      const v = execFileSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
      return Number(v.split('.')[0]) < 24;
    });
  if (!old) {
    console.log('no older Node on PATH: checked the guard only by reading it');
    assert.match(readFileSync(BIN, 'utf8'), /MK_NODE_TOO_OLD/);
    return;
  }
  const r = spawnSync(old, [BIN, 'version'], { encoding: 'utf8' });
  assert.is(r.status, 78);
  assert.match(r.stderr, /MK_NODE_TOO_OLD/);
  assert.match(r.stderr, /Node\.js 24 or newer/);
});

test.run();
