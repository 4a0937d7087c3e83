/**
 * Writes OCI image layouts from files: one gzip layer (our deterministic tar), the config with
 * its diff_id, the manifest, index.json naming the image in full, and oci-layout. The result is
 * a folder, or a tar of one: what `ctr images import` takes. The same inputs always give the same
 * bytes, so the same manifest digest.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { assert } from '../../lib/assert.js';
import { writeFileAtomic } from '../../node/atomic-write.js';
import { localImageName } from './names.js';
import {
  ANNOTATION,
  blobPath,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  MEDIA_TYPE,
  OCI_LAYOUT_FILE,
  OCI_LAYOUT_VERSION,
  sha256Digest,
} from './oci-types.js';
import { FIXED_MTIME, type TarEntry, writeTar } from './tar-write.js';

export interface ImageSpec {
  /** Full local name, e.g. localhost/microk8s/pause:3.10-mk1. */
  readonly name: string;
  /** The files of the one layer. */
  readonly files: readonly TarEntry[];
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  readonly env?: readonly string[];
  readonly workingDir?: string;
  /** e.g. ['80/tcp']. */
  readonly exposedPorts?: readonly string[];
  readonly user?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** What the history says made the layer (the recipe). */
  readonly createdBy: string;
}

export interface ImageLayout {
  readonly name: string;
  /** The manifest's descriptor, with the name annotations: one entry of index.json. */
  readonly manifest: Descriptor;
  readonly layer: { readonly digest: string; readonly diffId: string; readonly size: number };
  /** Every blob by digest: layer, config, manifest. */
  readonly blobs: ReadonlyMap<string, Buffer>;
}

const ARCHITECTURE = 'amd64';
const OS = 'linux';
const CREATED = new Date(FIXED_MTIME * 1000).toISOString().replace('.000Z', 'Z');
// Level 9 and no file name or time in the gzip header: the same bytes on every run.
const GZIP_LEVEL = 9;

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function descriptor(mediaType: string, data: Buffer): Descriptor {
  return { mediaType, digest: sha256Digest(data), size: data.length };
}

function imageConfig(spec: ImageSpec, diffId: string): ImageConfig {
  const config: Record<string, unknown> = {};
  if (spec.user !== undefined) config.User = spec.user;
  if (spec.exposedPorts?.length) {
    config.ExposedPorts = Object.fromEntries([...spec.exposedPorts].sort().map((port) => [port, {}]));
  }
  if (spec.env?.length) config.Env = [...spec.env];
  if (spec.entrypoint?.length) config.Entrypoint = [...spec.entrypoint];
  if (spec.cmd?.length) config.Cmd = [...spec.cmd];
  if (spec.workingDir !== undefined) config.WorkingDir = spec.workingDir;
  if (spec.labels && Object.keys(spec.labels).length > 0) config.Labels = { ...spec.labels };
  return {
    created: CREATED,
    architecture: ARCHITECTURE,
    os: OS,
    config,
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created: CREATED, created_by: spec.createdBy }],
  };
}

/** Builds every blob of a one-layer image in memory (our images are a few MiB). */
export function buildImageLayout(spec: ImageSpec): ImageLayout {
  const name = localImageName(spec.name);
  const tar = writeTar(spec.files);
  const gzipped = gzipSync(tar, { level: GZIP_LEVEL });
  const diffId = sha256Digest(tar);
  const layer = descriptor(MEDIA_TYPE.layerGzip, gzipped);
  const configBlob = json(imageConfig(spec, diffId));
  const config = descriptor(MEDIA_TYPE.config, configBlob);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.manifest,
    config,
    layers: [layer],
  };
  const manifestBlob = json(manifest);
  const manifestDescriptor = descriptor(MEDIA_TYPE.manifest, manifestBlob);
  return {
    name,
    manifest: {
      ...manifestDescriptor,
      platform: { architecture: ARCHITECTURE, os: OS },
      annotations: { [ANNOTATION.containerdName]: name, [ANNOTATION.refName]: name },
    },
    layer: { digest: layer.digest, diffId, size: layer.size },
    blobs: new Map([
      [layer.digest, gzipped],
      [config.digest, configBlob],
      [manifestDescriptor.digest, manifestBlob],
    ]),
  };
}

/** The files of a layout holding these images: oci-layout, index.json, blobs/sha256/*. */
export function layoutFiles(images: readonly ImageLayout[]): Map<string, Buffer> {
  assert(images.length > 0, 'a layout needs at least one image');
  const files = new Map<string, Buffer>();
  files.set(OCI_LAYOUT_FILE, json({ imageLayoutVersion: OCI_LAYOUT_VERSION }));
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.index,
    manifests: images.map((image) => image.manifest),
  };
  files.set('index.json', json(index));
  for (const image of images) {
    for (const [digest, data] of image.blobs) files.set(blobPath(digest), data);
  }
  return files;
}

/** Writes the layout as a folder (created if missing). */
export async function writeLayoutDir(images: readonly ImageLayout[], dir: string): Promise<void> {
  for (const [path, data] of layoutFiles(images)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), data, { mode: 0o644 });
  }
}

/** The layout as one tar (uncompressed: blobs are compressed already). */
export function layoutTar(images: readonly ImageLayout[]): Buffer {
  const entries: TarEntry[] = [...layoutFiles(images)].map(([path, data]) => ({
    type: 'file',
    path,
    mode: 0o644,
    data,
  }));
  return writeTar(entries);
}

/** Writes the layout tar atomically: a reader never sees half a file. */
export async function writeLayoutTar(images: readonly ImageLayout[], file: string): Promise<Buffer> {
  const tar = layoutTar(images);
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomic(file, tar, { mode: 0o644 });
  return tar;
}
