// End to end with a real containerd (built by `npm run build:upstream`): started here with its
// own config, folders and socket (the node's socket path under a temp MICROK8S_HOME), stopped by
// its pid. `microk8s images import` keeps the full names, the images run under runc, and
// `images export-local` writes an archive that imports again. A docker-archive written by
// skopeo (an independent writer) imports too.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildBusyboxImage } from '../../snap/local/images/busybox-image.js';
import { buildPauseImage } from '../../snap/local/images/pause-image.js';
import type { BuiltImage } from '../../snap/local/images/recipe-cache.js';
import { resolvePaths } from '../../src/lib/paths.js';
import { waitProcessExit } from '../../src/lib/process.js';
import { resolveUpstreamPaths } from '../../src/lib/upstream-paths.js';
import { upstreamLayout } from '../../src/services/upstream/layout.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'run.js');
const UPSTREAM = resolveUpstreamPaths({ ...process.env, SNAP: '' }).bin;
const dir = mkdtempSync(join(tmpdir(), 'mk8s-containerd-'));
const home = join(dir, 'home');
const socket = upstreamLayout(resolvePaths({ MICROK8S_HOME: home })).containerdSocket;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
let containerd: ChildProcess | undefined;
let images: BuiltImage[] = [];

function cli(args: string[], input?: Buffer) {
  const r = execFileSync(process.execPath, [BIN, ...args], {
    input,
    env: { ...process.env, MICROK8S_HOME: home, SNAP: '' },
    timeout: 120_000,
  });
  return r.toString();
}

function ctr(args: string[]): string {
  return execFileSync(join(UPSTREAM, 'ctr'), ['--address', socket, '--namespace', 'k8s.io', ...args], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${UPSTREAM}:${process.env.PATH}` },
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 120_000,
  });
}

test.before(async () => {
  for (const binary of ['containerd', 'ctr', 'containerd-shim-runc-v2', 'runc']) {
    assert.ok(
      existsSync(join(UPSTREAM, binary)),
      `${binary} missing in ${UPSTREAM}: run \`npm run build:upstream\``,
    );
  }
  execFileSync('bash', [join(ROOT, 'test/setup/apt-need.sh'), 'skopeo=skopeo'], { stdio: 'inherit' });
  // The two images this test imports (the addons' images are built by their own test's setup).
  images = [
    await buildPauseImage(join(dir, 'cache'), () => {}),
    await buildBusyboxImage(join(dir, 'cache'), () => {}),
  ];
  mkdirSync(join(socket, '..'), { recursive: true });
  const config = join(dir, 'containerd.toml');
  writeFileSync(
    config,
    [
      'version = 3',
      `root = "${join(dir, 'root')}"`,
      `state = "${join(dir, 'state')}"`,
      '[grpc]',
      `  address = "${socket}"`,
      '[ttrpc]',
      `  address = "${socket}.ttrpc"`,
      '[metrics]',
      '  address = ""',
      '',
    ].join('\n'),
  );
  containerd = spawn(join(UPSTREAM, 'containerd'), ['--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PATH: `${UPSTREAM}:${process.env.PATH}` },
  });
  let log = '';
  containerd.stderr?.on('data', (d) => (log += d));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!log.includes('containerd successfully booted')) {
    assert.ok(
      Date.now() < deadline && containerd.exitCode === null,
      `containerd did not start:\n${log.slice(-2000)}`,
    );
    await sleep(100);
  }
});

test.after(async () => {
  if (containerd?.pid && containerd.exitCode === null) {
    containerd.kill('SIGTERM');
    if (!(await waitProcessExit(containerd.pid, STOP_TIMEOUT_MS))) containerd.kill('SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
});

function built(prefix: string): BuiltImage {
  const found = images.find((i) => i.name.startsWith(prefix));
  assert.ok(found, prefix);
  return found;
}

test('import from a file and from stdin keeps the full names; pause is pinned', () => {
  const pause = built('localhost/microk8s/pause:');
  const busybox = built('localhost/microk8s/busybox:');
  assert.match(
    cli(['images', 'import', '--pinned', pause.tar]),
    new RegExp(`Imported ${pause.name} ${pause.digest}`),
  );
  assert.match(
    cli(['images', 'import', '-'], readFileSync(busybox.tar)),
    new RegExp(`Imported ${busybox.name}`),
  );
  const listing = ctr(['images', 'list']);
  for (const image of [pause, busybox]) {
    const row = listing.split('\n').find((line) => line.startsWith(`${image.name} `));
    assert.ok(row, `${image.name} in\n${listing}`);
    assert.ok(row.includes(image.digest), row);
  }
  assert.match(
    listing.split('\n').find((l) => l.startsWith(`${pause.name} `)) ?? '',
    /io\.cri-containerd\.pinned=pinned/,
  );
});

test('the busybox image runs under runc: shell, hostname, its own root', () => {
  const out = ctr([
    'run',
    '--rm',
    built('localhost/microk8s/busybox:').name,
    'mk8s-t1',
    'sh',
    '-c',
    'echo ok; ls /bin/httpd',
  ]);
  assert.match(out, /^ok\n\/bin\/httpd/);
});

test('export-local writes every local image; the archive imports again', () => {
  const out = join(dir, 'local.tar');
  cli(['images', 'export-local', '--output', out]);
  const report = JSON.parse(cli(['images', 'import', out, '--json']));
  assert.equal(report.images.map((i: { name: string }) => i.name).sort(), images.map((i) => i.name).sort());
  const one = cli(['images', 'export-local', built('localhost/microk8s/pause:').name]);
  assert.is(one.slice(0, 5), 'blobs', 'the archive itself is on stdout');
});

test('a docker-archive written by skopeo imports, with its name', () => {
  const archive = join(dir, 'docker.tar');
  execFileSync('skopeo', [
    'copy',
    '--quiet',
    `oci-archive:${built('localhost/microk8s/busybox:').tar}`,
    `docker-archive:${archive}:example.test/tools/busybox:docker`,
  ]);
  assert.match(cli(['images', 'import', archive]), /Imported example\.test\/tools\/busybox:docker/);
  assert.match(ctr(['images', 'list', '--quiet']), /^example\.test\/tools\/busybox:docker$/m);
});

test.run();
