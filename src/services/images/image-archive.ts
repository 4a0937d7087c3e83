/**
 * Reads an image archive a user hands us and says what it holds, before anything goes to
 * containerd: an OCI image layout (index.json + oci-layout + blobs) or a docker-archive
 * (manifest.json rows of Config, RepoTags, Layers). Every referenced blob must be there, with
 * the size and sha256 its descriptor claims. Anything else is MK_IMAGE_INVALID.
 */
import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { MicroK8sError } from '../../lib/errors.js';
import {
  ANNOTATION,
  blobPath,
  type Descriptor,
  type DockerArchiveRow,
  MEDIA_TYPE,
  OCI_LAYOUT_FILE,
} from './oci-types.js';
import { type ScannedEntry, scanTar, TAR_READ_LIMITS, type TarReadLimits } from './tar-read.js';

export type ArchiveFormat = 'oci' | 'docker';

export interface ArchiveImage {
  /** The full name the archive gives it, or null (containerd then makes one up). */
  readonly name: string | null;
  /** The manifest digest (OCI) or the config digest (docker-archive). */
  readonly digest: string;
  readonly platform: string | null;
  readonly layers: number;
  /** Bytes of config and layers. */
  readonly size: number;
}

export interface ArchiveReport {
  readonly format: ArchiveFormat;
  readonly images: readonly ArchiveImage[];
  /** Manifests named by an index whose blobs are absent (other platforms of a partial save). */
  readonly skippedManifests: number;
}

const MAX_INDEX_DEPTH = 4;

function invalid(message: string, info: Record<string, unknown> = {}): MicroK8sError {
  return new MicroK8sError('MK_IMAGE_INVALID', message, info);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(entry: ScannedEntry | undefined, what: string): unknown {
  if (!entry?.data) throw invalid(`${what} is missing or too large to be image metadata`);
  try {
    return JSON.parse(entry.data.toString('utf8'));
  } catch {
    throw invalid(`${what} is not valid JSON`);
  }
}

function asDescriptor(value: unknown, what: string): Descriptor {
  if (
    !isRecord(value) ||
    typeof value.mediaType !== 'string' ||
    typeof value.digest !== 'string' ||
    !/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(value.digest) ||
    typeof value.size !== 'number' ||
    !Number.isSafeInteger(value.size) ||
    value.size < 0
  ) {
    throw invalid(`${what} is not a valid descriptor (mediaType, digest, size)`);
  }
  return value as unknown as Descriptor;
}

class Archive {
  constructor(readonly entries: ReadonlyMap<string, ScannedEntry>) {}

  /** A path after following symlinks inside the archive (docker save links shared layers). */
  resolve(path: string, hops = 0): ScannedEntry | undefined {
    const entry = this.entries.get(path);
    if (entry?.type !== 'symlink' && entry?.type !== 'hardlink') return entry;
    if (hops > 8) throw invalid(`'${path}' is a loop of links`);
    const target =
      entry.type === 'hardlink' ? entry.linkTarget : posix.join(posix.dirname(path), entry.linkTarget);
    return this.resolve(posix.normalize(target).replace(/^\/+/, '').replace(/^\.\//, ''), hops + 1);
  }

  /** The blob of a descriptor, checked against its size and digest. */
  blob(descriptor: Descriptor, what: string): ScannedEntry {
    const path = blobPath(descriptor.digest);
    const entry = this.resolve(path);
    if (entry?.type !== 'file') throw invalid(`${what} ${descriptor.digest} is missing from the archive`);
    this.check(entry, descriptor, what);
    return entry;
  }

  check(entry: ScannedEntry, descriptor: Descriptor, what: string): void {
    if (entry.size !== descriptor.size) {
      throw invalid(
        `${what} ${descriptor.digest} is ${entry.size} bytes, its descriptor says ${descriptor.size}`,
      );
    }
    if (descriptor.digest.startsWith('sha256:') && `sha256:${entry.sha256}` !== descriptor.digest) {
      throw invalid(`${what} ${descriptor.digest} does not match its content (sha256:${entry.sha256})`);
    }
  }
}

function platformOf(descriptor: Descriptor, config: Record<string, unknown>): string | null {
  const platform = descriptor.platform ?? config;
  const { os, architecture } = platform as { os?: unknown; architecture?: unknown };
  return typeof os === 'string' && typeof architecture === 'string' ? `${os}/${architecture}` : null;
}

function ociImage(archive: Archive, descriptor: Descriptor, name: string | null): ArchiveImage {
  const manifest = parseJson(archive.blob(descriptor, 'manifest'), `manifest ${descriptor.digest}`);
  if (!isRecord(manifest) || manifest.schemaVersion !== 2 || !Array.isArray(manifest.layers)) {
    throw invalid(`manifest ${descriptor.digest} is not an image manifest (schemaVersion 2, config, layers)`);
  }
  const configDescriptor = asDescriptor(manifest.config, `the config of manifest ${descriptor.digest}`);
  const config = parseJson(archive.blob(configDescriptor, 'config'), `config ${configDescriptor.digest}`);
  if (!isRecord(config)) throw invalid(`config ${configDescriptor.digest} is not a JSON object`);
  const layers = manifest.layers.map((layer, i) => asDescriptor(layer, `layer ${i} of ${descriptor.digest}`));
  for (const layer of layers) archive.blob(layer, 'layer');
  return {
    name,
    digest: descriptor.digest,
    platform: platformOf(descriptor, config),
    layers: layers.length,
    size: configDescriptor.size + layers.reduce((sum, layer) => sum + layer.size, 0),
  };
}

function isIndexType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPE.index || mediaType === MEDIA_TYPE.dockerManifestList;
}

function nameOf(descriptor: Descriptor): string | null {
  const annotations = descriptor.annotations ?? {};
  return annotations[ANNOTATION.containerdName] ?? annotations[ANNOTATION.refName] ?? null;
}

function readOci(archive: Archive): ArchiveReport {
  const layout = parseJson(archive.resolve(OCI_LAYOUT_FILE), OCI_LAYOUT_FILE);
  if (!isRecord(layout) || typeof layout.imageLayoutVersion !== 'string') {
    throw invalid('not an OCI image layout: oci-layout has no imageLayoutVersion');
  }
  const images: ArchiveImage[] = [];
  let skipped = 0;
  const walk = (index: unknown, what: string, inherited: string | null, depth: number): void => {
    if (!isRecord(index) || !Array.isArray(index.manifests)) throw invalid(`${what} has no manifests list`);
    for (const [i, raw] of index.manifests.entries()) {
      const descriptor = asDescriptor(raw, `entry ${i} of ${what}`);
      const name = nameOf(descriptor) ?? inherited;
      if (!archive.resolve(blobPath(descriptor.digest))) {
        // A save of one platform out of a multi-platform image keeps the others' descriptors only.
        if (depth > 0) {
          skipped += 1;
          continue;
        }
        throw invalid(`manifest ${descriptor.digest} named in ${what} is missing from the archive`);
      }
      if (isIndexType(descriptor.mediaType)) {
        if (depth >= MAX_INDEX_DEPTH) throw invalid(`indexes nest deeper than ${MAX_INDEX_DEPTH} levels`);
        const nested = parseJson(archive.blob(descriptor, 'index'), `index ${descriptor.digest}`);
        walk(nested, `index ${descriptor.digest}`, name, depth + 1);
      } else {
        images.push(ociImage(archive, descriptor, name));
      }
    }
  };
  walk(parseJson(archive.resolve('index.json'), 'index.json'), 'index.json', null, 0);
  if (images.length === 0) throw invalid('the OCI layout holds no image whose blobs are all present');
  return { format: 'oci', images, skippedManifests: skipped };
}

function readDocker(archive: Archive): ArchiveReport {
  const rows = parseJson(archive.resolve('manifest.json'), 'manifest.json');
  if (!Array.isArray(rows) || rows.length === 0)
    throw invalid('manifest.json is not a non-empty list of images');
  const images = rows.map((row: unknown, i): ArchiveImage => {
    const shape = row as Partial<DockerArchiveRow>;
    if (
      !isRecord(row) ||
      typeof shape.Config !== 'string' ||
      !Array.isArray(shape.Layers) ||
      !shape.Layers.every((layer) => typeof layer === 'string') ||
      !(shape.RepoTags === null || shape.RepoTags === undefined || Array.isArray(shape.RepoTags))
    ) {
      throw invalid(`row ${i} of manifest.json is not {Config, RepoTags, Layers}`);
    }
    const configEntry = archive.resolve(shape.Config);
    const config = parseJson(configEntry, `config ${shape.Config}`);
    const diffIds = isRecord(config) && isRecord(config.rootfs) ? config.rootfs.diff_ids : undefined;
    if (!Array.isArray(diffIds) || diffIds.length !== shape.Layers.length) {
      throw invalid(`config ${shape.Config} does not list one diff_id per layer`);
    }
    let size = configEntry!.size;
    for (const layer of shape.Layers) {
      const entry = archive.resolve(layer);
      if (entry?.type !== 'file') throw invalid(`layer ${layer} is missing from the archive`);
      size += entry.size;
    }
    return {
      name: shape.RepoTags?.[0] ?? null,
      digest: `sha256:${configEntry!.sha256}`,
      platform: platformOf({ mediaType: '', digest: '', size: 0 }, config as Record<string, unknown>),
      layers: shape.Layers.length,
      size,
    };
  });
  return { format: 'docker', images, skippedManifests: 0 };
}

/** Which files the scan holds in memory: the small JSON files that describe the images. */
function metadataRule(path: string): 'always' | 'if-json' | 'never' {
  if (path === 'index.json' || path === 'manifest.json' || path === OCI_LAYOUT_FILE) return 'always';
  if (path.startsWith('blobs/') || path.endsWith('.json')) return 'if-json';
  return 'never';
}

/** Reads and checks an image archive (plain or gzip tar) from a stream. */
export async function inspectImageArchive(
  source: AsyncIterable<Uint8Array>,
  limits: TarReadLimits = TAR_READ_LIMITS,
): Promise<ArchiveReport> {
  const archive = new Archive(await scanTar(source, metadataRule, limits));
  if (archive.resolve('index.json')) return readOci(archive);
  if (archive.resolve('manifest.json')) return readDocker(archive);
  throw invalid('not an image: no index.json or manifest.json in the archive');
}

/** Reads and checks an image archive file. */
export async function inspectImageFile(file: string): Promise<ArchiveReport> {
  let stream: AsyncIterable<Uint8Array>;
  try {
    stream = createReadStream(file);
    return await inspectImageArchive(stream);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES') {
      throw new MicroK8sError('MK_INVALID_ARGUMENT', `cannot read '${file}': ${code}`, { file });
    }
    throw error;
  }
}
