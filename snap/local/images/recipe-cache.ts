/**
 * The cache of built image archives: <cacheDir>/images/<slug>.tar beside <slug>.json, which
 * records the recipe hash it was built from. A build whose recipe hash matches, and whose tar
 * still has the recorded sha256, is skipped.
 */
import { createHash } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageLayout } from '../../../src/services/images/oci-layout.js';
import { writeLayoutTar } from '../../../src/services/images/oci-layout.js';
import { sha256Hex } from '../../../src/services/images/oci-types.js';

export interface BuiltImage {
  /** Full local name, e.g. localhost/microk8s/pause:3.10-mk1. */
  readonly name: string;
  /** The OCI layout tar, for `microk8s images import` / `ctr images import`. */
  readonly tar: string;
  /** The manifest digest: the image's identity in containerd. */
  readonly digest: string;
  /** sha256 (hex) of the tar file itself. */
  readonly sha256: string;
  /** Bytes of the tar file. */
  readonly size: number;
}

interface Stamp extends BuiltImage {
  readonly recipeHash: string;
}

const LIBRARY_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'src',
  'services',
  'images',
);
// The modules whose output lands in the tar: a change to one of them rebuilds every image.
const LIBRARY_FILES = ['tar-write.ts', 'oci-layout.ts', 'oci-types.ts', 'names.ts', 'recipe-cache.ts'];

/** The text of the layout library and of this cache, as recipe inputs. */
export async function libraryInputs(): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const file of LIBRARY_FILES) {
    const path = file === 'recipe-cache.ts' ? fileURLToPath(import.meta.url) : join(LIBRARY_DIR, file);
    out[`library/${file}`] = await readFile(path);
  }
  return out;
}

/** sha256 of the recipe's inputs, each tagged with what it is so that no two inputs blur. */
export function recipeHash(inputs: Readonly<Record<string, string | Uint8Array>>): string {
  const hash = createHash('sha256');
  for (const key of Object.keys(inputs).sort()) {
    const value = inputs[key]!;
    const bytes = typeof value === 'string' ? Buffer.from(value) : value;
    hash.update(`${key}\0${bytes.length}\0`).update(bytes);
  }
  return hash.digest('hex');
}

function paths(cacheDir: string, slug: string): { tar: string; stamp: string } {
  const dir = join(cacheDir, 'images');
  return { tar: join(dir, `${slug}.tar`), stamp: join(dir, `${slug}.json`) };
}

/** The image built earlier from the same recipe, if its tar is still intact. */
export async function cachedImage(
  cacheDir: string,
  slug: string,
  hash: string,
): Promise<BuiltImage | undefined> {
  const { tar, stamp } = paths(cacheDir, slug);
  let recorded: Stamp;
  try {
    recorded = JSON.parse(await readFile(stamp, 'utf8')) as Stamp;
    if (recorded.recipeHash !== hash || sha256Hex(await readFile(tar)) !== recorded.sha256) return undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || error instanceof SyntaxError) return undefined;
    throw error;
  }
  return { name: recorded.name, tar, digest: recorded.digest, sha256: recorded.sha256, size: recorded.size };
}

/** Writes the tar, then the stamp: a stamp never describes a tar that is not all there. */
export async function storeImage(
  cacheDir: string,
  slug: string,
  hash: string,
  layout: ImageLayout,
): Promise<BuiltImage> {
  const { tar, stamp } = paths(cacheDir, slug);
  const bytes = await writeLayoutTar([layout], tar);
  const built: BuiltImage = {
    name: layout.name,
    tar,
    digest: layout.manifest.digest,
    sha256: sha256Hex(bytes),
    size: bytes.length,
  };
  const record: Stamp = { ...built, recipeHash: hash };
  await writeFile(`${stamp}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  await rename(`${stamp}.tmp`, stamp);
  return built;
}
