/**
 * One snapcraft part: `node --import tsx snap/local/build/part.ts NAME INSTALL_DIR` builds the
 * part NAME with the same pinned recipe as `npm run build:upstream` (parts.ts, go-build.ts) and
 * puts its binaries where the prime tree has them (snap/local/pack/layout.ts); `images` builds
 * the local image tars. snapcraft.yaml runs it in each part's override-build.
 */
import { copyFileSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLocalImages } from '../images/build-images.js';
import { PRIME, partBinDir } from '../pack/layout.js';
import { ensureDebianPackages } from './debian-deps.js';
import { goBuild } from './go-build.js';
import { PARTS } from './parts.js';

const LOCAL = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(name: string | undefined, install: string | undefined): Promise<void> {
  if (!name || !install) throw new Error('usage: part.ts NAME INSTALL_DIR');
  if (name === 'images') {
    // The recipes write into <cache>/images; the part's build folder is the cache here.
    const cache = join(resolve(install), '..', 'images-cache');
    mkdirSync(join(install, PRIME.images), { recursive: true });
    for (const image of await buildLocalImages(cache, log)) {
      copyFileSync(image.tar, join(install, PRIME.images, basename(image.tar)));
    }
    return;
  }
  const part = PARTS.find((p) => p.name === name);
  if (!part) throw new Error(`no part '${name}'; the parts are ${PARTS.map((p) => p.name).join(', ')}`);
  ensureDebianPackages(part.debianBuildDeps ?? [], log);
  const out = join(install, partBinDir(part));
  mkdirSync(out, { recursive: true });
  for (const binary of part.binaries) {
    await goBuild(part, binary, join(LOCAL, part.moduleDir), join(out, binary.name), log);
  }
  for (const [link, target] of Object.entries(part.links ?? {})) {
    rmSync(join(out, link), { force: true });
    symlinkSync(target, join(out, link));
  }
}

main(process.argv[2], process.argv[3]).catch((error: unknown) => {
  process.stderr.write(`part failed: ${(error as Error).message}\n`);
  process.exit(1);
});
