// Our registry client (src/services/images/registry-push.ts) against the real distribution
// registry: the binary of the registry addon's image (built by `npm run build:upstream`), run
// here on a loopback port with its storage in a temp folder, stopped by its pid. The busybox
// layout is pushed; the registry serves the same manifest digest and blobs back; a second push
// uploads nothing; errors carry stable codes. Without the built images it fails and says why.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, createReadStream, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { waitProcessExit } from '../../src/lib/process.js';
import { resolveUpstreamPaths } from '../../src/lib/upstream-paths.js';
import { inspectImageFile } from '../../src/services/images/image-archive.js';
import { blobPath, type Descriptor } from '../../src/services/images/oci-types.js';
import { pushImageArchive } from '../../src/services/images/registry-push.js';
import { scanTar } from '../../src/services/images/tar-read.js';
import { runCli } from '../kubernetes/node-cli.js';
import { rejectsCode } from './helpers.js';

const IMAGES = resolveUpstreamPaths({ ...process.env, SNAP: '' }).images;
const REGISTRY_TAR = join(IMAGES, 'addon-registry.tar');
const BUSYBOX_TAR = join(IMAGES, 'busybox.tar');
const dir = mkdtempSync(join(tmpdir(), 'mk8s-registry-push-'));
const START_TIMEOUT_MS = 20_000;
let registry: ChildProcess | undefined;
let port = 0;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: free } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return free;
}

const BIG = {
  maxEntries: 100,
  maxKeptFileBytes: 256 << 20,
  maxKeptTotalBytes: 512 << 20,
  maxHeaderRecordBytes: 65536,
};

async function* once(data: Buffer): AsyncGenerator<Uint8Array> {
  yield data;
}

/** The registry binary out of the addon image's only layer. */
async function extractRegistry(): Promise<string> {
  const outer = await scanTar(createReadStream(REGISTRY_TAR), () => 'always', BIG);
  const read = (digest: string) => outer.get(blobPath(digest))!.data!;
  const index = JSON.parse(outer.get('index.json')!.data!.toString()) as { manifests: Descriptor[] };
  const manifest = JSON.parse(read(index.manifests[0]!.digest).toString()) as { layers: Descriptor[] };
  const files = await scanTar(
    once(read(manifest.layers[0]!.digest)),
    (path) => (path === 'registry' ? 'always' : 'never'),
    BIG,
  );
  const binary = join(dir, 'registry');
  writeFileSync(binary, files.get('registry')!.data!);
  chmodSync(binary, 0o755);
  return binary;
}

test.before(async () => {
  for (const file of [REGISTRY_TAR, BUSYBOX_TAR])
    assert.ok(existsSync(file), `${file} is missing: run \`npm run build:upstream\` first`);
  const binary = await extractRegistry();
  port = await freePort();
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log: {level: warn}',
      `storage: {filesystem: {rootdirectory: ${join(dir, 'data')}}}`,
      `http: {addr: "127.0.0.1:${port}"}`,
      '',
    ].join('\n'),
  );
  // Its log is one line per request (404s on HEAD included): not shown.
  registry = spawn(binary, ['serve', config], { stdio: 'ignore' });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    assert.ok(Date.now() < deadline, 'the registry did not answer /v2/ in time');
    await sleep(200);
  }
});

test.after(async () => {
  if (registry?.pid !== undefined && registry.exitCode === null) {
    registry.kill('SIGTERM');
    await waitProcessExit(registry.pid, 10_000).catch(() => registry?.kill('SIGKILL'));
  }
  rmSync(dir, { recursive: true, force: true });
});

test('the busybox layout is pushed; the registry serves the same manifest and blobs', async () => {
  const reference = `127.0.0.1:${port}/busybox:test`;
  const result = await pushImageArchive(BUSYBOX_TAR, reference);
  const archive = await inspectImageFile(BUSYBOX_TAR);
  assert.is(result.digest, archive.images[0]!.digest);
  assert.is(result.uploaded, 2, 'the config and the one layer');
  const base = `http://127.0.0.1:${port}/v2/busybox`;
  const response = await fetch(`${base}/manifests/test`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  assert.is(response.status, 200);
  assert.is(response.headers.get('docker-content-digest'), result.digest);
  const manifest = (await response.json()) as { layers: Descriptor[] };
  const layer = await fetch(`${base}/blobs/${manifest.layers[0]!.digest}`);
  assert.is(layer.status, 200);
  assert.is(Number((await layer.arrayBuffer()).byteLength), manifest.layers[0]!.size);
  const tags = (await (await fetch(`${base}/tags/list`)).json()) as { tags: string[] };
  assert.equal(tags.tags, ['test']);
});

test('a second push uploads no blob again', async () => {
  const result = await pushImageArchive(BUSYBOX_TAR, `127.0.0.1:${port}/busybox:again`);
  assert.is(result.uploaded, 0);
  assert.is(result.present, 2);
});

test('`microk8s images push` pushes it too, and says what it did (--json)', async () => {
  const run = await runCli(['images', 'push', BUSYBOX_TAR, `127.0.0.1:${port}/cli/busybox:1`, '--json'], {
    timeoutMs: 60_000,
  });
  assert.is(run.code, 0, run.stdout + run.stderr);
  const result = JSON.parse(run.stdout) as { digest: string; uploaded: number; present: number };
  assert.is(result.digest, (await inspectImageFile(BUSYBOX_TAR)).images[0]!.digest);
  // Another repository: the registry links blobs per repository, so both are uploaded.
  assert.is(result.uploaded + result.present, 2);
  const bad = await runCli(['images', 'push', BUSYBOX_TAR, 'no-tag-here', '--json'], { timeoutMs: 60_000 });
  assert.is(bad.code, 4, bad.stdout);
  assert.is((JSON.parse(bad.stdout) as { error: { code: string } }).error.code, 'MK_INVALID_ARGUMENT');
});

test('errors carry stable codes', async () => {
  await rejectsCode(pushImageArchive(BUSYBOX_TAR, 'Not A Name'), 'MK_INVALID_ARGUMENT');
  await rejectsCode(pushImageArchive(join(dir, 'absent.tar'), `127.0.0.1:${port}/x:1`), 'MK_IMAGE_INVALID');
  await rejectsCode(pushImageArchive(join(dir, 'config.yml'), `127.0.0.1:${port}/x:1`), 'MK_IMAGE_INVALID');
  // Nothing listens on a fresh port: the client says it cannot reach it.
  await rejectsCode(
    pushImageArchive(BUSYBOX_TAR, `127.0.0.1:${await freePort()}/x:1`),
    'MK_REGISTRY_PUSH_FAILED',
  );
});

test.run();
