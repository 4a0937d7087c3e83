// `microk8s status` as a user runs it: the built CLI as a child process, against a real 3-node
// lab on 127.0.51.x (its own addresses, so it never collides with the other lab tests).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse as parseYaml } from 'yaml';
import { startLab, type TestLab } from '../lab/helpers.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'run.js');
const home = mkdtempSync(join(tmpdir(), 'mk8s-status-'));
const empty = mkdtempSync(join(tmpdir(), 'mk8s-status-empty-'));
let lab: TestLab;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

// Asynchronous, so the test process stays responsive while a CLI runs (bounded by a kill timer).
function run(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'status', ...args], {
      env: { ...process.env, MICROK8S_HOME: home, SNAP: '', FORCE_COLOR: '0' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function nodeDir(name: string): string {
  return join(lab.dir, name);
}

async function statusJson(name: string, extra: string[] = []) {
  const r = await run(['--datastore-dir', nodeDir(name), '--format', 'json', ...extra]);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test.before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'commands')), 'run `npm run build` first (npm test does)');
  lab = await startLab(3, '127.0.51.1');
});

test.after(async () => {
  await lab?.down();
  rmSync(home, { recursive: true, force: true });
  rmSync(empty, { recursive: true, force: true });
});

test('a 3-node lab is highly available: 3 voters with their addresses and one leader', async () => {
  const s = await statusJson('node1', ['--wait-ready', '--timeout', '30']);
  assert.is(s.running, true);
  assert.is(s.ready, true);
  assert.is(s.highAvailability, true);
  const voters = s.datastore.voters as {
    id: number;
    address: string;
    failureDomain: string;
    self: boolean;
  }[];
  assert.equal(
    voters.map((v) => [v.id, v.address, v.failureDomain]),
    [
      [1, '127.0.51.1:2380', 'zone-1'],
      [2, '127.0.51.2:2380', 'zone-2'],
      [3, '127.0.51.3:2380', 'zone-3'],
    ],
  );
  assert.equal(s.datastore.standbys, []);
  assert.equal(s.datastore.spares, []);
  assert.is(voters.find((v) => v.self)?.id, 1);
  assert.equal(s.addons, { available: false, enabled: [], disabled: [] });

  // The leader node1 names is the one that says it leads, and only the leader knows liveness.
  const leaderId = s.datastore.leader.id as number;
  assert.ok([1, 2, 3].includes(leaderId));
  assert.is(s.datastore.leader.address, `127.0.51.${leaderId}:2380`);
  const fromLeader = await statusJson(`node${leaderId}`);
  assert.is(fromLeader.datastore.node.state, 'leader');
  assert.is(fromLeader.datastore.leader.self, true);
  assert.equal(fromLeader.datastore.offline, []);
  assert.equal(fromLeader.datastore.dead, []);
  const follower = await statusJson(`node${(leaderId % 3) + 1}`);
  assert.is(follower.datastore.leader.id, leaderId);
  assert.is(follower.datastore.offline, null);
});

test('--json is the same as --format json', async () => {
  const r = await run(['--datastore-dir', nodeDir('node2'), '--json']);
  assert.is(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.is(s.highAvailability, true);
  assert.is(s.datastore.voters.length, 3);
});

test('pretty output: running, HA, master nodes with the leader marked, addons', async () => {
  const r = await run(['--datastore-dir', nodeDir('node3')]);
  assert.is(r.code, 0, r.stderr);
  const leaderId = (await statusJson('node3')).datastore.leader.id as number;
  assert.match(r.stdout, /^microk8s is running\n/);
  assert.match(r.stdout, /\nhigh-availability: yes\n/);
  assert.match(r.stdout, /\n {2}datastore master nodes:\n/);
  for (const id of [1, 2, 3])
    assert.match(r.stdout, new RegExp(`\\n {4}127\\.0\\.51\\.${id}:2380 {2}id ${id} `));
  assert.match(r.stdout, new RegExp(`127\\.0\\.51\\.${leaderId}:2380 .*\\(leader\\)`));
  assert.match(r.stdout, /127\.0\.51\.3:2380 .*\(this node\)/);
  assert.match(r.stdout, /\n {2}datastore standby nodes: none\n/);
  assert.match(r.stdout, /\n {2}datastore spare nodes: none\n/);
  assert.match(r.stdout, /\naddons:\n {2}unknown/);
});

test('--format yaml prints the same data as YAML', async () => {
  const r = await run(['--datastore-dir', nodeDir('node1'), '--format', 'yaml']);
  assert.is(r.code, 0, r.stderr);
  const s = parseYaml(r.stdout);
  assert.is(s.highAvailability, true);
  assert.is(s.datastore.voters.length, 3);
  assert.is(s.datastore.node.id, 1);
});

test('not running: exit 3 with MK_NOT_RUNNING, in text and in JSON', async () => {
  const r = await run(['--datastore-dir', empty]);
  assert.is(r.code, 3);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /^Error \[MK_NOT_RUNNING\]: microk8s is not running: no datastore admin socket/);
  assert.match(r.stderr, /\nHint: /);

  const j = await run(['--datastore-dir', empty, '--format', 'json']);
  assert.is(j.code, 3);
  const body = JSON.parse(j.stdout);
  assert.is(body.error.code, 'MK_NOT_RUNNING');
  assert.is(body.error.datastoreDir, empty);
});

test('--wait-ready gives up after --timeout when nothing answers', async () => {
  const r = await run(['--datastore-dir', empty, '--wait-ready', '--timeout', '1']);
  assert.is(r.code, 3);
  assert.match(r.stderr, /MK_NOT_RUNNING\]: microk8s is not running after waiting 1 s/);
});

test('a bad --format or --timeout is a usage error', async () => {
  const f = await run(['--datastore-dir', empty, '--format', 'xml']);
  assert.is.not(f.code, 0);
  assert.match(f.stderr, /format/);
  const t = await run(['--datastore-dir', empty, '--timeout', '0']);
  assert.is.not(t.code, 0);
  assert.match(t.stderr, /timeout/);
});

test.run();
