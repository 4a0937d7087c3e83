/**
 * Where things are in the snap's prime tree ($SNAP at run time). One table for the snapcraft
 * parts (snap/local/build/part.ts), the assembler of `npm run snap` and the tests, and the same
 * places src/lib/upstream-paths.ts looks in a snap: binaries in bin/, CNI plugins in
 * opt/cni/bin/, image tars in images/.
 */
import { join } from 'node:path';
import type { GoPart } from '../build/parts.js';
import { ADDON_IMAGES } from '../images/addon-images.js';

export const PRIME = {
  bin: 'bin',
  cniBin: join('opt', 'cni', 'bin'),
  images: 'images',
  /** The Node runtime: node/bin/node. */
  node: join('node', 'bin', 'node'),
  /** Our package: bin/run.js, dist/, package.json, the production node_modules. */
  app: 'app',
  /** The apps' command wrappers (snap/local/wrappers). */
  commands: 'commands',
  meta: 'meta',
  hooks: join('meta', 'hooks'),
  snapYaml: join('meta', 'snap.yaml'),
} as const;

/** The prime folder of a part's binaries: CNI plugins where containerd and the kubelet look. */
export function partBinDir(part: Pick<GoPart, 'name'>): string {
  return part.name === 'cni' ? PRIME.cniBin : PRIME.bin;
}

/**
 * The image tars the snap carries (<cache>/images/<slug>.tar): the ones this checkout's recipes
 * build. The cache is shared, so it may hold images that other checkouts build as well.
 */
export function snapImageSlugs(): string[] {
  return ['pause', 'busybox', ...ADDON_IMAGES.map((image) => image.slug)];
}
