// The OCI layout writer: every blob is what its digest says, the diff_id is the sha256 of the
// uncompressed layer, the JSON documents have the spec's shapes, and the same input gives the
// same manifest digest.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { buildImageLayout, layoutFiles, writeLayoutDir } from '../../src/services/images/oci-layout.js';
import { blobPath } from '../../src/services/images/oci-types.js';
import { scanTar } from '../../src/services/images/tar-read.js';
import { chunks, gunzip, sampleImage } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mk8s-oci-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const sha = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

test('every blob has the digest it is stored under', () => {
  const image = sampleImage();
  assert.is(image.blobs.size, 3);
  for (const [digest, data] of image.blobs) assert.is(sha(data), digest);
});

test('config, manifest and index have the OCI shapes', () => {
  const image = sampleImage();
  const files = layoutFiles([image]);
  assert.equal(JSON.parse(files.get('oci-layout')!.toString()), { imageLayoutVersion: '1.0.0' });
  const index = JSON.parse(files.get('index.json')!.toString());
  assert.is(index.schemaVersion, 2);
  assert.is(index.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.is(index.manifests.length, 1);
  const entry = index.manifests[0];
  assert.is(entry.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.is(entry.annotations['io.containerd.image.name'], 'localhost/microk8s/sample:1');
  assert.is(entry.annotations['org.opencontainers.image.ref.name'], 'localhost/microk8s/sample:1');
  assert.equal(entry.platform, { architecture: 'amd64', os: 'linux' });

  const manifestBlob = files.get(blobPath(entry.digest))!;
  assert.is(manifestBlob.length, entry.size);
  const manifest = JSON.parse(manifestBlob.toString());
  assert.is(manifest.schemaVersion, 2);
  assert.is(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.is(manifest.config.mediaType, 'application/vnd.oci.image.config.v1+json');
  assert.is(manifest.layers.length, 1);
  assert.is(manifest.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');

  const layer = files.get(blobPath(manifest.layers[0].digest))!;
  assert.is(layer.length, manifest.layers[0].size);
  const config = JSON.parse(files.get(blobPath(manifest.config.digest))!.toString());
  assert.is(config.architecture, 'amd64');
  assert.is(config.os, 'linux');
  assert.equal(config.config.Entrypoint, ['/bin/hello']);
  assert.equal(config.config.Cmd, ['--loud']);
  assert.equal(config.config.Env, ['PATH=/bin']);
  assert.is(config.config.WorkingDir, '/tmp');
  assert.equal(config.config.ExposedPorts, { '8080/tcp': {} });
  assert.is(config.rootfs.type, 'layers');
  // diff_id: the uncompressed layer; the digest: the gzip blob.
  assert.equal(config.rootfs.diff_ids, [sha(gunzip(layer))]);
  assert.is(image.layer.diffId, sha(gunzip(layer)));
  assert.is(config.history.length, 1);
  assert.is(config.history[0].created_by, 'test/images');
});

test('the layer holds the files with their modes, owned by 0:0', async () => {
  const image = sampleImage();
  const layer = gunzip(image.blobs.get(image.layer.digest)!);
  const entries = await scanTar(chunks(layer), () => 'always');
  assert.equal([...entries.keys()].sort(), ['bin', 'bin/hello', 'bin/hi', 'etc', 'etc/motd', 'tmp']);
  assert.is(entries.get('bin/hello')?.data?.toString(), '#!/bin/sh\necho hello\n');
  assert.is(entries.get('bin/hi')?.linkTarget, 'hello');
  // Header fields of every entry: uid and gid 0, the fixed mtime; tmp keeps its sticky bit.
  for (let at = 0; at + 512 <= layer.length && layer[at] !== 0; at += 512) {
    const field = (start: number, length: number) =>
      layer.toString('latin1', at + start, at + start + length);
    const name = field(0, 100).replace(/\0+$/, '');
    assert.is(field(108, 8), '0000000\0', `${name} uid`);
    assert.is(field(116, 8), '0000000\0', `${name} gid`);
    assert.is(field(136, 12), '00000000000\0', `${name} mtime`);
    if (name === 'tmp/') assert.is(field(100, 8), '0001777\0');
    const size = Number.parseInt(field(124, 12), 8);
    at += Math.ceil(size / 512) * 512;
  }
});

test('the same input twice gives the same manifest digest; other files another one', () => {
  assert.is(sampleImage().manifest.digest, sampleImage().manifest.digest);
  // The name lives in index.json only: a second tag of the same content is the same manifest.
  assert.is(sampleImage('localhost/microk8s/sample:2').manifest.digest, sampleImage().manifest.digest);
  const other = buildImageLayout({
    name: 'localhost/microk8s/sample:1',
    files: [{ type: 'file', path: 'a', mode: 0o644, data: Buffer.from('a') }],
    createdBy: 'test/images',
  });
  assert.is.not(other.manifest.digest, sampleImage().manifest.digest);
});

test('a local build cannot carry an upstream registry name', () => {
  for (const name of [
    'registry.k8s.io/pause:3.10',
    'docker.io/library/busybox:1',
    'busybox:1',
    'localhost/x',
  ]) {
    try {
      buildImageLayout({ name, files: [], createdBy: 't' });
      assert.unreachable(name);
    } catch (error) {
      assert.ok(isMicroK8sError(error, 'MK_INVALID_ARGUMENT'), `${name}: ${error}`);
    }
  }
});

test('writeLayoutDir writes the layout as a folder', async () => {
  const image = sampleImage();
  const out = join(dir, 'layout');
  await writeLayoutDir([image], out);
  const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
  assert.is(index.manifests[0].digest, image.manifest.digest);
  for (const digest of image.blobs.keys()) assert.is(sha(readFileSync(join(out, blobPath(digest)))), digest);
});

test.run();
