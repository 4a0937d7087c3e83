/**
 * How one addon image is built: its binary from a pinned wrapper Go module under
 * snap/local/addons/<module> (go build with progress, as the upstream parts are), plus any
 * files the module folder holds for it (a default config), into a one-layer image named under
 * localhost/microk8s. The recipe hash covers this file, go-build.ts and source-patch.ts, the
 * module's files, the Go version, the image's own spec (its source patches included) and the
 * layout library, but not the list of images (addon-images.ts): adding an addon does not
 * rebuild the others.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImageLayout } from '../../../src/services/images/oci-layout.js';
import type { TarEntry } from '../../../src/services/images/tar-write.js';
import { filesBelow } from '../build/cache-key.js';
import { goBuild } from '../build/go-build.js';
import type { GoPart } from '../build/parts.js';
import { type BuiltImage, cachedImage, libraryInputs, recipeHash, storeImage } from './recipe-cache.js';

const LOCAL = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A file of the module folder copied into the image (a default config, for example). */
export interface ModuleFile {
  /** Relative to the module folder. */
  readonly source: string;
  /** Path inside the image, without a leading slash. */
  readonly path: string;
  readonly mode: number;
}

export interface AddonImage {
  /** The cache's file name: <cache>/images/<slug>.tar. */
  readonly slug: string;
  /** The local name (localhost/microk8s/...), from src/services/images/names.ts. */
  readonly image: string;
  readonly part: GoPart;
  /** Which of part.binaries this image runs (default: the first). Lands at /<name>. */
  readonly binary?: string;
  /** The user the image runs as (the manifest may ask for another). */
  readonly user: string;
  /** Arguments after the entrypoint (the image's CMD). */
  readonly args?: readonly string[];
  readonly files?: readonly ModuleFile[];
}

/** A wrapper module under snap/local/addons/<name> with its main package at the root. */
export function addonPart(name: string, version: string, overrides: Partial<GoPart> = {}): GoPart {
  return {
    name,
    moduleDir: join('addons', name),
    version,
    cgo: false,
    tags: ['netgo', 'osusergo'],
    ldflags: ['-s', '-w'],
    binaries: [{ pkg: '.', name }],
    versionArgs: {},
    ...overrides,
  };
}

async function moduleFiles(dir: string): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const file of filesBelow(dir)) out[`module/${file}`] = await readFile(join(dir, file));
  return out;
}

export async function buildAddonImage(
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
    sourcePatch: await readFile(join(LOCAL, 'build', 'source-patch.ts')),
    recipe: await readFile(fileURLToPath(import.meta.url)),
    spec: JSON.stringify(spec),
  });
  const cached = await cachedImage(cacheDir, spec.slug, hash);
  if (cached) {
    log(`${spec.slug}: up to date (${cached.name})`);
    return cached;
  }
  const binarySpec = spec.part.binaries.find((b) => b.name === (spec.binary ?? spec.part.binaries[0]?.name));
  if (!binarySpec) throw new Error(`${spec.slug}: no binary ${spec.binary} in part ${spec.part.name}`);
  log(`${spec.slug}: go build ${binarySpec.pkg} ${spec.part.version} with ${goVersion}`);
  const work = await mkdtemp(join(tmpdir(), `microk8s-${spec.slug}-`));
  try {
    const binary = join(work, binarySpec.name);
    const started = Date.now();
    await goBuild(spec.part, binarySpec, moduleDir, binary, log);
    log(`${spec.slug}: built in ${Math.round((Date.now() - started) / 1000)} s`);
    const files: TarEntry[] = [
      { type: 'file', path: binarySpec.name, mode: 0o755, data: await readFile(binary) },
    ];
    for (const file of spec.files ?? []) {
      files.push({
        type: 'file',
        path: file.path,
        mode: file.mode,
        data: await readFile(join(moduleDir, file.source)),
      });
    }
    const layout = buildImageLayout({
      name: spec.image,
      files,
      entrypoint: [`/${binarySpec.name}`],
      ...(spec.args ? { cmd: [...spec.args] } : {}),
      user: spec.user,
      createdBy: `microk8s snap/local/${spec.part.moduleDir} ${spec.part.version}, ${goVersion}, CGO_ENABLED=${spec.part.cgo ? 1 : 0} -trimpath -ldflags "${spec.part.ldflags.join(' ')}"`,
    });
    return await storeImage(cacheDir, spec.slug, hash, layout);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
