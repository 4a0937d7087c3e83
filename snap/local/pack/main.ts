/**
 * `npm run snap [-- --output FILE] [--skip-build]`: the .snap file. snapcraft cannot run here (it needs snapd
 * or LXD), so this builds what its parts would (the upstream cache, dist/), assembles the prime
 * tree (assemble.ts), checks it as snapd would (check.ts) and packs it (squashfs.ts), unless
 * the upstream cache holds a .snap of the same inputs already (cached-snap.ts). The .snap stays
 * in that cache; --output copies it to a file as well.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { upstreamCacheDir } from '../../../src/lib/upstream-paths.js';
import { ensureCachedSnap } from './cached-snap.js';
import { PROJECT_ROOT, readSnapcraft, snapcraftSchemaErrors } from './project.js';
import { snapArchitecture } from './snap-yaml.js';
import { ensureSquashfsTools } from './squashfs.js';

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
  const snap = ensureCachedSnap({ upstreamCache: upstreamCacheDir(), log });
  const file = at >= 0 && argv[at + 1] ? resolve(argv[at + 1]!) : snap.file;
  if (file !== snap.file) copyFileSync(snap.file, file);
  log(
    `${file}: ${snap.bytes} bytes (${(snap.bytes / 1024 / 1024).toFixed(1)} MiB), ${snap.built ? 'built' : 'reused from the cache; built'} in ${snap.buildSeconds} s; ${snap.elfFiles} ELF files, all ${snapArchitecture()}`,
  );
}

try {
  main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`snap failed: ${(error as Error).message}\n`);
  process.exit(1);
}
