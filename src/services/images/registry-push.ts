/**
 * Pushes one image of an OCI image-layout archive to a registry over the distribution API
 * (HTTP API v2, the OCI distribution spec): each blob (config, layers) unless the registry
 * has it already (HEAD), as a monolithic upload (POST to open a session, PUT with the digest
 * and the whole body), then the manifest, byte for byte, under the tag. The manifest's digest
 * therefore stays the one the archive gives. No authentication: it is meant for the registry
 * addon (localhost:32000) and registries like it.
 */
import { createReadStream } from 'node:fs';
import { MicroK8sError } from '../../lib/errors.js';
import { parseImageName } from './names.js';
import { blobPath, type Descriptor, MEDIA_TYPE, OCI_LAYOUT_FILE } from './oci-types.js';
import { type ScannedEntry, scanTar, TAR_READ_LIMITS, type TarReadLimits } from './tar-read.js';

/** The whole image is held in memory while it is pushed: these bound it. */
export const PUSH_LIMITS: TarReadLimits = {
  ...TAR_READ_LIMITS,
  maxKeptFileBytes: 512 * 1024 * 1024,
  maxKeptTotalBytes: 1024 * 1024 * 1024,
};

export interface PushOptions {
  /** Plain HTTP (the registry addon); otherwise HTTPS. Default: plain for localhost and 127.x. */
  readonly plainHttp?: boolean;
  /** The archive's image to push, by the name it carries, when it holds more than one. */
  readonly source?: string;
  /** Hang guard of each request. */
  readonly requestTimeoutMs?: number;
  readonly limits?: TarReadLimits;
}

export interface PushResult {
  readonly reference: string;
  readonly digest: string;
  readonly uploaded: number;
  /** Blobs the registry had already. */
  readonly present: number;
  /** Bytes of the blobs uploaded. */
  readonly bytes: number;
}

function invalid(message: string): MicroK8sError {
  return new MicroK8sError('MK_IMAGE_INVALID', message);
}

function refused(what: string, status: number, body: string): MicroK8sError {
  return new MicroK8sError(
    'MK_REGISTRY_PUSH_FAILED',
    `${what}: the registry answered ${status}${body ? ` ${body.slice(0, 300)}` : ''}`,
    { status },
  );
}

function json(entry: ScannedEntry | undefined, what: string): Record<string, unknown> {
  if (!entry?.data) throw invalid(`${what} is missing from the archive`);
  try {
    return JSON.parse(entry.data.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw invalid(`${what} is not valid JSON`);
  }
}

/** The blob of a descriptor, checked against the size and digest it claims. */
function blob(entries: ReadonlyMap<string, ScannedEntry>, d: Descriptor, what: string): Buffer {
  const entry = entries.get(blobPath(d.digest));
  if (entry?.type !== 'file' || !entry.data) throw invalid(`${what} ${d.digest} is missing from the archive`);
  if (entry.size !== d.size || `sha256:${entry.sha256}` !== d.digest)
    throw invalid(`${what} ${d.digest} does not match its descriptor (size or sha256)`);
  return entry.data;
}

const GOARCH: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64' };

/** The image manifest to push: the one named, or the only one, or this machine's platform. */
function pickManifest(entries: ReadonlyMap<string, ScannedEntry>, source?: string): Descriptor {
  let list = json(entries.get('index.json'), 'index.json').manifests as Descriptor[] | undefined;
  if (!Array.isArray(list) || list.length === 0) throw invalid('index.json lists no image');
  if (source !== undefined) {
    list = list.filter((d) => Object.values(d.annotations ?? {}).includes(source));
    if (list.length === 0) throw invalid(`the archive holds no image named ${source}`);
  }
  if (list.length > 1) throw invalid(`the archive holds ${list.length} images: name the one to push`);
  let chosen = list[0]!;
  for (let depth = 0; chosen.mediaType === MEDIA_TYPE.index; depth++) {
    if (depth > 3) throw invalid('the archive nests indexes too deeply');
    const nested = JSON.parse(blob(entries, chosen, 'index').toString('utf8')) as {
      manifests?: Descriptor[];
    };
    const arch = GOARCH[process.arch] ?? process.arch;
    const match = nested.manifests?.find(
      (d) =>
        d.platform?.os === 'linux' && d.platform.architecture === arch && entries.has(blobPath(d.digest)),
    );
    if (!match) throw invalid(`the archive's index has no linux/${arch} image`);
    chosen = match;
  }
  if (chosen.mediaType !== MEDIA_TYPE.manifest && chosen.mediaType !== MEDIA_TYPE.dockerManifest)
    throw invalid(`${chosen.digest} is a ${chosen.mediaType}, not an image manifest`);
  return chosen;
}

class RegistryClient {
  constructor(
    private readonly base: string,
    private readonly repository: string,
    private readonly timeoutMs: number,
  ) {}

  async call(what: string, method: string, url: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(new URL(url, this.base), {
        method,
        redirect: 'follow',
        signal: AbortSignal.timeout(this.timeoutMs),
        ...init,
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new MicroK8sError(
        'MK_REGISTRY_PUSH_FAILED',
        `${what}: cannot reach ${this.base} (${cause?.code ?? cause?.message ?? (error as Error).message})`,
      );
    }
  }

  async expect(response: Response, what: string, ok: readonly number[]): Promise<Response> {
    if (ok.includes(response.status)) return response;
    throw refused(what, response.status, await response.text().catch(() => ''));
  }

  /** True when the registry has the blob (then it is not uploaded again). */
  async hasBlob(digest: string): Promise<boolean> {
    const what = `HEAD blob ${digest}`;
    const response = await this.call(what, 'HEAD', `/v2/${this.repository}/blobs/${digest}`);
    await this.expect(response, what, [200, 404]);
    return response.status === 200;
  }

  async uploadBlob(digest: string, data: Buffer): Promise<void> {
    const open = `open an upload for ${digest}`;
    const started = await this.expect(
      await this.call(open, 'POST', `/v2/${this.repository}/blobs/uploads/`),
      open,
      [202],
    );
    const location = started.headers.get('location');
    if (!location) throw refused(`${open} (no Location)`, started.status, '');
    const url = new URL(location, this.base);
    url.searchParams.set('digest', digest);
    const put = `upload blob ${digest}`;
    await this.expect(
      await this.call(put, 'PUT', url.href, {
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
        body: data,
      }),
      put,
      [201],
    );
  }

  async putManifest(tag: string, mediaType: string, data: Buffer): Promise<string | null> {
    const what = `PUT manifest ${this.repository}:${tag}`;
    const response = await this.expect(
      await this.call(what, 'PUT', `/v2/${this.repository}/manifests/${tag}`, {
        headers: { 'content-type': mediaType },
        body: data,
      }),
      what,
      [201],
    );
    return response.headers.get('docker-content-digest');
  }
}

function isLoopbackHost(domain: string): boolean {
  const host = domain.replace(/:\d+$/, '');
  return host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]';
}

/** Pushes the image of an OCI image-layout tar (plain or gzip) to `reference` (HOST/PATH:TAG). */
export async function pushImageArchive(
  file: string,
  reference: string,
  options: PushOptions = {},
): Promise<PushResult> {
  const target = parseImageName(reference);
  let entries: Map<string, ScannedEntry>;
  try {
    entries = await scanTar(createReadStream(file), () => 'always', options.limits ?? PUSH_LIMITS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES')
      throw invalid(`cannot read ${file}: ${(error as Error).message}`);
    throw error;
  }
  if (!entries.has(OCI_LAYOUT_FILE))
    throw invalid(`${file} is not an OCI image layout (no ${OCI_LAYOUT_FILE})`);
  const manifestDescriptor = pickManifest(entries, options.source);
  const manifestBytes = blob(entries, manifestDescriptor, 'manifest');
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as {
    config?: Descriptor;
    layers?: Descriptor[];
  };
  if (!manifest.config || !Array.isArray(manifest.layers))
    throw invalid(`manifest ${manifestDescriptor.digest} has no config or layers`);
  const blobs = [manifest.config, ...manifest.layers].map((d) => ({ d, data: blob(entries, d, 'blob') }));

  const plain = options.plainHttp ?? isLoopbackHost(target.domain);
  const client = new RegistryClient(
    `${plain ? 'http' : 'https'}://${target.domain}`,
    target.path,
    options.requestTimeoutMs ?? 120_000,
  );
  let uploaded = 0;
  let bytes = 0;
  for (const { d, data } of blobs) {
    if (await client.hasBlob(d.digest)) continue;
    await client.uploadBlob(d.digest, data);
    uploaded += 1;
    bytes += data.length;
  }
  const digest = await client.putManifest(target.tag, manifestDescriptor.mediaType, manifestBytes);
  if (digest !== null && digest !== manifestDescriptor.digest) {
    throw new MicroK8sError(
      'MK_REGISTRY_PUSH_FAILED',
      `the registry stored the manifest as ${digest}, not ${manifestDescriptor.digest}`,
    );
  }
  return { reference, digest: manifestDescriptor.digest, uploaded, present: blobs.length - uploaded, bytes };
}
