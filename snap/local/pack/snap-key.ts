/**
 * The key of a built .snap: a hash of everything assemble.ts puts into it, so a cached .snap is
 * reused only while none of its inputs changed. The inputs: our package as packed (package.json,
 * package-lock.json, the package's files: bin/, dist/ ...), the snap recipe (snapcraft.yaml, the
 * hooks, the command wrappers, this packer), the pinned Node runtime's version, each upstream
 * binary's part key (the folder `npm run build:upstream` keeps it in carries that part's cache
 * key) and the sha256 of each image tar the snap carries, from the stamp beside it (checked
 * against the tar by `npm run build:upstream`; a rebuild from another recipe that gives the same
 * bytes keeps the key).
 */
import { createHash, type Hash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { filesBelow } from '../build/cache-key.js';
import { PARTS } from '../build/parts.js';
import { snapImageSlugs } from './layout.js';

/** Every file under `dir` (or `dir` itself), sorted, as paths relative to `root`. */
function filesUnder(root: string, dir: string): string[] {
  const path = join(root, dir);
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [dir];
  return filesBelow(path).map((file) => join(dir, file));
}

function addFiles(hash: Hash, root: string, dirs: readonly string[]): void {
  for (const file of dirs.flatMap((d) => filesUnder(root, d))) {
    hash.update(`file\0${file}\0`);
    hash.update(readFileSync(join(root, file)));
  }
}

/** The recipe folders and files of the snap, relative to the project root. */
export const SNAP_RECIPE = ['snap/snapcraft.yaml', 'snap/hooks', 'snap/local/wrappers', 'snap/local/pack'];

export function snapInputsKey(root: string, upstreamCache: string, nodeArch: string = process.arch): string {
  const hash = createHash('sha256');
  hash.update(`arch\0${nodeArch}\0`);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files?: string[] };
  addFiles(hash, root, ['package.json', 'package-lock.json', ...(pkg.files ?? []), ...SNAP_RECIPE]);
  const nodePkg = join(root, 'node_modules', 'node', 'package.json');
  hash.update(`node\0${existsSync(nodePkg) ? readFileSync(nodePkg, 'utf8') : process.version}\0`);
  for (const part of PARTS) {
    for (const binary of part.binaries) {
      const link = join(upstreamCache, 'bin', binary.name);
      // parts/<part>-<key>/<binary>: the part's cache key names its folder.
      const target = existsSync(link) ? relative(upstreamCache, realpathSync(link)) : 'missing';
      hash.update(`part\0${binary.name}\0${target}\0`);
    }
  }
  for (const slug of snapImageSlugs()) {
    const stamp = join(upstreamCache, 'images', `${slug}.json`);
    const sha256 = existsSync(stamp)
      ? (JSON.parse(readFileSync(stamp, 'utf8')) as { sha256?: string }).sha256
      : undefined;
    hash.update(`image\0${slug}\0${sha256 ?? 'missing'}\0`);
  }
  return hash.digest('hex').slice(0, 20);
}
