/**
 * `npm run snap [-- --output FILE] [--skip-build]`: the .snap file. snapcraft cannot run here (it needs snapd
 * or LXD), so this builds what its parts would (the upstream cache, dist/), assembles the prime
 * tree (assemble.ts), checks it as snapd would (check.ts) and packs it (squashfs.ts). The
 * output goes to a cache folder outside the clone unless --output names a file.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { upstreamCacheDir } from '../../../src/lib/upstream-paths.js';
import { assemblePrime } from './assemble.js';
import { checkPrimeTree } from './check.js';
import { PROJECT_ROOT, readSnapcraft, snapCacheDir, snapcraftSchemaErrors } from './project.js';
import { ensureSquashfsTools, packSquashfs } from './squashfs.js';

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function run(args: string[]): void {
  execFileSync(process.execPath, args, { cwd: PROJECT_ROOT, stdio: 'inherit' });
}

function main(argv: string[]): void {
  const at = argv.indexOf('--output');
  const errors = snapcraftSchemaErrors(readSnapcraft());
  if (errors.length > 0) throw new Error(`snap/snapcraft.yaml is not valid:\n  ${errors.join('\n  ')}`);
  ensureSquashfsTools(log);
  log('building the parts: the upstream components (a no-op when the cache is warm), dist/');
  run(['--import', 'tsx', 'snap/local/build/main.ts']);
  // --skip-build packs dist/ as it is (while the tree does not compile, for a look at the snap).
  if (!argv.includes('--skip-build'))
    execFileSync('npm', ['run', 'build'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  const out = snapCacheDir();
  mkdirSync(out, { recursive: true });
  let started = Date.now();
  const tree = assemblePrime({ prime: join(out, 'prime'), upstreamCache: upstreamCacheDir() });
  log(`prime tree: ${tree.prime} (${Date.now() - started} ms)`);
  const check = checkPrimeTree(tree.prime);
  if (check.problems.length > 0)
    throw new Error(`the prime tree is not a valid snap:\n  ${check.problems.join('\n  ')}`);
  const file =
    at >= 0 && argv[at + 1]
      ? resolve(argv[at + 1]!)
      : join(out, `${tree.name}_${tree.version}_${tree.architecture}.snap`);
  log(`packing ${file} (mksquashfs, xz)`);
  started = Date.now();
  const packed = packSquashfs(tree.prime, file);
  log(
    `${packed.file}: ${packed.bytes} bytes (${(packed.bytes / 1024 / 1024).toFixed(1)} MiB), packed in ${((Date.now() - started) / 1000).toFixed(1)} s; ${check.elfFiles} ELF files, all ${tree.architecture}`,
  );
}

try {
  main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`snap failed: ${(error as Error).message}\n`);
  process.exit(1);
}
