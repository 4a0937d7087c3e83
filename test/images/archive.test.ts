// The archive checker: our OCI layouts, a docker-archive made by hand, gzip; and what is not an
// image (garbage, a plain tar, truncation, a tampered or missing blob) is MK_IMAGE_INVALID.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inspectImageArchive, inspectImageFile } from '../../src/services/images/image-archive.js';
import { layoutFiles, layoutTar } from '../../src/services/images/oci-layout.js';
import { blobPath } from '../../src/services/images/oci-types.js';
import { TAR_READ_LIMITS } from '../../src/services/images/tar-read.js';
import { writeTar } from '../../src/services/images/tar-write.js';
import { chunks, gunzip, rejectsCode, sampleImage } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mk8s-archive-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const hex = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function tarOf(files: Map<string, Buffer>): Buffer {
  return writeTar([...files].map(([path, data]) => ({ type: 'file' as const, path, mode: 0o644, data })));
}

/** A docker-archive as `docker save` lays it out: <id>/layer.tar, <config>.json, manifest.json. */
function dockerArchive(): Buffer {
  const image = sampleImage();
  const layer = gunzip(image.blobs.get(image.layer.digest)!);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: [`sha256:${hex(layer)}`] },
    }),
  );
  const configName = `${hex(config)}.json`;
  const manifest = [
    { Config: configName, RepoTags: ['example/sample:1'], Layers: [`${hex(layer)}/layer.tar`] },
  ];
  return writeTar([
    { type: 'file', path: `${hex(layer)}/layer.tar`, mode: 0o644, data: layer },
    { type: 'file', path: configName, mode: 0o644, data: config },
    { type: 'file', path: 'manifest.json', mode: 0o644, data: Buffer.from(JSON.stringify(manifest)) },
    { type: 'file', path: 'repositories', mode: 0o644, data: Buffer.from('{}') },
  ]);
}

test('our OCI layout tar: one named image, its platform and layers', async () => {
  const image = sampleImage();
  const report = await inspectImageArchive(chunks(layoutTar([image])));
  assert.is(report.format, 'oci');
  assert.equal(report.images, [
    {
      name: 'localhost/microk8s/sample:1',
      digest: image.manifest.digest,
      platform: 'linux/amd64',
      layers: 1,
      size: [...image.blobs.values()].reduce((n, b) => n + b.length, 0) - image.manifest.size,
    },
  ]);
});

test('two images in one layout; gzip-compressed archive', async () => {
  const tar = layoutTar([sampleImage(), sampleImage('localhost/microk8s/sample:2')]);
  const report = await inspectImageArchive(chunks(gzipSync(tar)));
  assert.equal(
    report.images.map((i) => i.name),
    ['localhost/microk8s/sample:1', 'localhost/microk8s/sample:2'],
  );
});

test('a docker-archive made by hand (Config, RepoTags, Layers)', async () => {
  const file = join(dir, 'docker.tar');
  writeFileSync(file, dockerArchive());
  const report = await inspectImageFile(file);
  assert.is(report.format, 'docker');
  assert.is(report.images.length, 1);
  assert.is(report.images[0]?.name, 'example/sample:1');
  assert.is(report.images[0]?.layers, 1);
  assert.is(report.images[0]?.platform, 'linux/amd64');
});

test('garbage, a tar that is no image, an empty input: MK_IMAGE_INVALID', async () => {
  await rejectsCode(
    inspectImageArchive(chunks(Buffer.alloc(4096, 'garbage '))),
    'MK_IMAGE_INVALID',
    /not a tar/,
  );
  const plain = writeTar([{ type: 'file', path: 'hello.txt', mode: 0o644, data: Buffer.from('hi') }]);
  await rejectsCode(
    inspectImageArchive(chunks(plain)),
    'MK_IMAGE_INVALID',
    /not an image: no index.json or manifest.json/,
  );
  await rejectsCode(inspectImageArchive(chunks(Buffer.alloc(0))), 'MK_IMAGE_INVALID', /empty/);
  await rejectsCode(
    inspectImageArchive(chunks(gzipSync(Buffer.from('not a tar at all')))),
    'MK_IMAGE_INVALID',
  );
});

test('a truncated archive, plain or gzip: MK_IMAGE_INVALID', async () => {
  const tar = layoutTar([sampleImage()]);
  await rejectsCode(inspectImageArchive(chunks(tar.subarray(0, tar.length - 2000))), 'MK_IMAGE_INVALID');
  const gz = gzipSync(tar);
  await rejectsCode(inspectImageArchive(chunks(gz.subarray(0, gz.length - 100))), 'MK_IMAGE_INVALID');
});

test('a tampered blob or a missing blob: MK_IMAGE_INVALID naming it', async () => {
  const image = sampleImage();
  const files = layoutFiles([image]);
  const layerPath = blobPath(image.layer.digest);
  const tampered = new Map(files);
  const bytes = Buffer.from(files.get(layerPath)!);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
  tampered.set(layerPath, bytes);
  await rejectsCode(
    inspectImageArchive(chunks(tarOf(tampered))),
    'MK_IMAGE_INVALID',
    /does not match its content/,
  );
  const missing = new Map(files);
  missing.delete(layerPath);
  await rejectsCode(inspectImageArchive(chunks(tarOf(missing))), 'MK_IMAGE_INVALID', /layer .* is missing/);
  const noLayout = new Map(files);
  noLayout.delete('oci-layout');
  await rejectsCode(inspectImageArchive(chunks(tarOf(noLayout))), 'MK_IMAGE_INVALID', /oci-layout/);
  const badJson = new Map(files);
  badJson.set('index.json', Buffer.from('{"manifests": ['));
  await rejectsCode(inspectImageArchive(chunks(tarOf(badJson))), 'MK_IMAGE_INVALID', /not valid JSON/);
});

test('metadata is read within bounds: an oversized index.json is refused', async () => {
  const files = layoutFiles([sampleImage()]);
  files.set('index.json', Buffer.alloc(TAR_READ_LIMITS.maxKeptFileBytes + 1, 0x20));
  await rejectsCode(inspectImageArchive(chunks(tarOf(files))), 'MK_IMAGE_INVALID', /over the limits/);
});

test('a missing file is MK_INVALID_ARGUMENT', async () => {
  await rejectsCode(inspectImageFile(join(dir, 'nope.tar')), 'MK_INVALID_ARGUMENT');
});

test.run();
