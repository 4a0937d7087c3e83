// `microk8s datastore run` has two entry points: the fast path in bin/run.js (no oclif, for the
// daemon's memory) and the oclif command. A user must not be able to tell them apart by their
// errors and exit codes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePlainDatastoreRunArgs } from '../../src/datastore/node/daemon-cli.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'run.js');
const home = mkdtempSync(join(tmpdir(), 'mk8s-cli-run-'));

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'datastore', 'run', ...args], {
    encoding: 'utf8',
    env: { ...process.env, MICROK8S_HOME: home, MICROK8S_LOG_LEVEL: 'error' },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test.before(() => {
  assert.ok(
    existsSync(join(ROOT, 'dist', 'datastore', 'node', 'daemon-cli.js')),
    'run `npm run build` first',
  );
});
test.after(() => rmSync(home, { recursive: true, force: true }));

test('plain command lines are taken by the fast path, everything else is left to oclif', () => {
  assert.equal(parsePlainDatastoreRunArgs(['--args-file', 'f']), { 'args-file': 'f' });
  assert.equal(parsePlainDatastoreRunArgs(['--id=1', '--peer', '2=a:1', '--peer=3=b:2']), {
    id: '1',
    peer: ['2=a:1', '3=b:2'],
  });
  assert.equal(parsePlainDatastoreRunArgs([]), {});
  for (const argv of [
    ['--help'],
    ['-h'],
    ['--bogus', '1'],
    ['--id'],
    ['--id='],
    ['--id', '--name', 'x'],
    ['--weight', '-1'],
    ['--id', '1', '--id', '2'],
    ['--id', '1', 'extra'],
    ['--peer', '2=a:1', '3=b:2'],
    ['--', '--id', '1'],
    ['--read-mode', 'lease', 'extra'],
  ]) {
    assert.is(parsePlainDatastoreRunArgs(argv), undefined, argv.join(' '));
  }
});

test('an unknown flag is an oclif usage error, exit code 2', () => {
  const r = run(['--bogus', 'x']);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /Nonexistent flag: --bogus/);
  assert.is(r.stdout, '');
});

test('a flag without its value and a repeated flag are usage errors, exit code 2', () => {
  const missing = run(['--id']);
  assert.is(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /Flag --id expects a value/);
  const twice = run(['--id', '1', '--id', '2']);
  assert.is(twice.code, 2, twice.stderr);
  assert.match(twice.stderr, /Flag --id can only be specified once/);
});

test('an invalid setting prints code and hint and exits with its code, on both paths alike', () => {
  const expected =
    "Error [MK_INVALID_CONFIG]: --id: must be an integer from 1 to 2147483648, got '0'\n" +
    'Hint: Fix the named setting and try again.\n';
  // Plain: the fast path.
  const fast = run(['--id', '0', '--peer', '2=127.0.60.2:2380', '--peer', '3=127.0.60.3:2380']);
  // oclif reads `--peer A B` as two peers; the fast path leaves that shape to it.
  const oclif = run(['--id', '0', '--peer', '2=127.0.60.2:2380', '3=127.0.60.3:2380']);
  for (const r of [fast, oclif]) {
    assert.is(r.code, 78, r.stderr);
    assert.is(r.stderr, expected);
    assert.is(r.stdout, '');
  }
});

test('an unreadable args file is MK_INVALID_CONFIG, exit code 78', () => {
  const r = run(['--args-file', join(home, 'missing')]);
  assert.is(r.code, 78, r.stderr);
  assert.match(r.stderr, /^Error \[MK_INVALID_CONFIG\]: cannot read args file .*missing/);
  assert.match(r.stderr, /\nHint: Fix the named setting and try again.\n$/);
});

test('--help is still the oclif help of the command', () => {
  const r = run(['--help']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /Run the datastore daemon of this node/);
  assert.match(r.stdout, /--peer=<value>\.\.\./);
});

test.run();
