/**
 * The images the node needs without a registry, built from pinned recipes into the upstream
 * build cache: the sandbox (pause) image, the busybox test image and the core addons' images. `npm run build:upstream`
 * calls buildLocalImages; each image is skipped when its tar was built from the same recipe.
 *
 * Run alone: node --import tsx snap/local/images/build-images.ts [CACHE_DIR]
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddonImages } from './addon-images.js';
import { buildBusyboxImage } from './busybox-image.js';
import { buildPauseImage } from './pause-image.js';
import type { BuiltImage } from './recipe-cache.js';

export type { BuiltImage } from './recipe-cache.js';

/** Builds (or finds up to date) every local image under <cacheDir>/images/. */
export async function buildLocalImages(cacheDir: string, log: (line: string) => void): Promise<BuiltImage[]> {
  return [
    await buildPauseImage(cacheDir, log),
    await buildBusyboxImage(cacheDir, log),
    ...(await buildAddonImages(cacheDir, log)),
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const cacheDir =
    process.argv[2] ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'microk8s-upstream');
  const log = (line: string) => process.stderr.write(`${line}\n`);
  for (const image of await buildLocalImages(cacheDir, log)) {
    process.stdout.write(`${image.name}  ${image.digest}  ${image.size} bytes  ${image.tar}\n`);
  }
}
