/**
 * The core addons' images, each built from a pinned wrapper Go module under
 * snap/local/addons/<name> (go build with progress, as the upstream parts are) into a one-file
 * image named under localhost/microk8s. Skipped when the recipe hash (Go version, module
 * files, build spec, layout library) is unchanged.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COREDNS_IMAGE, HOSTPATH_PROVISIONER_IMAGE } from '../../../src/services/images/names.js';
import { buildImageLayout } from '../../../src/services/images/oci-layout.js';
import { goBuild } from '../build/go-build.js';
import type { GoPart } from '../build/parts.js';
import { type BuiltImage, cachedImage, libraryInputs, recipeHash, storeImage } from './recipe-cache.js';
import { tool } from './tool.js';

const LOCAL = join(dirname(fileURLToPath(import.meta.url)), '..');

interface AddonImage {
  readonly slug: string;
  readonly image: string;
  readonly part: GoPart;
  /** The user the image runs as (the manifest may ask for another). */
  readonly user: string;
  readonly args?: readonly string[];
}

function part(name: string, version: string): GoPart {
  return {
    name,
    moduleDir: join('addons', name),
    version,
    cgo: false,
    tags: ['netgo', 'osusergo'],
    ldflags: ['-s', '-w'],
    binaries: [{ pkg: '.', name }],
    versionArgs: {},
  };
}

export const ADDON_IMAGES: readonly AddonImage[] = [
  // CoreDNS with the plugins the dns addon uses (main.go), not the cloud providers' SDKs.
  { slug: 'addon-coredns', image: COREDNS_IMAGE, part: part('coredns', 'v1.14.7'), user: '65532:65532' },
  // Creates and removes folders under the host path it is given: runs as root.
  {
    slug: 'addon-hostpath-provisioner',
    image: HOSTPATH_PROVISIONER_IMAGE,
    part: part('hostpath-provisioner', 'v1.0.0'),
    user: '0:0',
  },
];

async function moduleFiles(dir: string): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const file of (await readdir(dir)).sort()) out[`module/${file}`] = await readFile(join(dir, file));
  return out;
}

async function buildAddonImage(
  cacheDir: string,
  spec: AddonImage,
  goVersion: string,
  log: (line: string) => void,
): Promise<BuiltImage> {
  const moduleDir = join(LOCAL, spec.part.moduleDir);
  const hash = recipeHash({
    ...(await libraryInputs()),
    ...(await moduleFiles(moduleDir)),
    goVersion,
    goBuild: await readFile(join(LOCAL, 'build', 'go-build.ts')),
    recipe: await readFile(fileURLToPath(import.meta.url)),
    spec: JSON.stringify(spec),
  });
  const cached = await cachedImage(cacheDir, spec.slug, hash);
  if (cached) {
    log(`${spec.slug}: up to date (${cached.name})`);
    return cached;
  }
  log(`${spec.slug}: go build ${spec.part.version} with ${goVersion}`);
  const work = await mkdtemp(join(tmpdir(), `microk8s-${spec.slug}-`));
  try {
    const binaryName = spec.part.binaries[0]!.name;
    const binary = join(work, binaryName);
    const started = Date.now();
    await goBuild(spec.part, spec.part.binaries[0]!, moduleDir, binary, log);
    log(`${spec.slug}: built in ${Math.round((Date.now() - started) / 1000)} s`);
    const layout = buildImageLayout({
      name: spec.image,
      files: [{ type: 'file', path: binaryName, mode: 0o755, data: await readFile(binary) }],
      entrypoint: [`/${binaryName}`],
      user: spec.user,
      createdBy: `microk8s snap/local/${spec.part.moduleDir} ${spec.part.version}, ${goVersion}, CGO_ENABLED=0 -trimpath -ldflags "-s -w"`,
    });
    return await storeImage(cacheDir, spec.slug, hash, layout);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function buildAddonImages(cacheDir: string, log: (line: string) => void): Promise<BuiltImage[]> {
  const goVersion = (
    await tool('go', ['env', 'GOVERSION'], { env: { GOTOOLCHAIN: 'local' }, timeoutMs: 60_000 })
  ).trim();
  const out: BuiltImage[] = [];
  for (const spec of ADDON_IMAGES) out.push(await buildAddonImage(cacheDir, spec, goVersion, log));
  return out;
}
