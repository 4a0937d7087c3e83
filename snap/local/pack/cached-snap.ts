/**
 * The .snap built once per set of inputs and kept in the upstream build cache (outside the
 * clone), under snaps/<key>/ where <key> is snap-key.ts's hash of its inputs: `npm run snap`,
 * the tests and CI reuse it until dist/, the recipe or a part changes. Building it means
 * assembling the prime tree (assemble.ts), checking it as snapd would (check.ts) and packing it
 * (squashfs.ts, minutes on two cores). Only the few most recently used builds are kept.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { assemblePrime } from './assemble.js';
import { checkPrimeTree } from './check.js';
import { PROJECT_ROOT, readSnapcraft, snapCacheDir } from './project.js';
import { snapInputsKey } from './snap-key.js';
import { snapArchitecture } from './snap-yaml.js';
import { packSquashfs } from './squashfs.js';

/** How many built .snap files the cache keeps (each is over 100 MiB). */
const KEEP_BUILDS = 4;

export interface BuiltSnap {
  readonly file: string;
  readonly key: string;
  readonly bytes: number;
  /** False when the cache had it. */
  readonly built: boolean;
  /** How long assembling and packing took when it was built (recorded beside it). */
  readonly buildSeconds: number;
  readonly elfFiles: number;
}

interface BuildRecord {
  readonly key: string;
  readonly bytes: number;
  readonly buildSeconds: number;
  readonly elfFiles: number;
  readonly builtAt: string;
}

export interface CachedSnapOptions {
  readonly upstreamCache: string;
  readonly projectRoot?: string;
  readonly log?: (line: string) => void;
}

export function builtSnapsDir(upstreamCache: string): string {
  return join(upstreamCache, 'snaps');
}

/** The .snap file for these inputs, where the cache keeps it (present or not). */
export function cachedSnapPath(options: CachedSnapOptions): { key: string; file: string } {
  const root = options.projectRoot ?? PROJECT_ROOT;
  const key = snapInputsKey(root, options.upstreamCache);
  const project = readSnapcraft(join(root, 'snap', 'snapcraft.yaml'));
  const name = `${project.name}_${project.version}_${snapArchitecture()}.snap`;
  return { key, file: join(builtSnapsDir(options.upstreamCache), key, name) };
}

function prune(dir: string, keep: string): void {
  const builds = readdirSync(dir)
    .filter((k) => k !== keep && existsSync(join(dir, k, 'build.json')))
    .map((k) => ({ k, used: statSync(join(dir, k, 'build.json')).mtimeMs }))
    .sort((a, b) => b.used - a.used);
  for (const old of builds.slice(KEEP_BUILDS - 1)) rmSync(join(dir, old.k), { recursive: true, force: true });
}

/** The cached .snap for the current inputs, built first when the cache does not have it. */
export function ensureCachedSnap(options: CachedSnapOptions): BuiltSnap {
  const log = options.log ?? (() => {});
  const { key, file } = cachedSnapPath(options);
  const recordFile = join(file, '..', 'build.json');
  if (existsSync(file) && existsSync(recordFile)) {
    const record = JSON.parse(readFileSync(recordFile, 'utf8')) as BuildRecord;
    const now = new Date();
    utimesSync(recordFile, now, now); // most recently used: kept by prune
    log(`${file}: cached (inputs ${key}, built ${record.builtAt})`);
    return {
      file,
      key,
      bytes: record.bytes,
      built: false,
      buildSeconds: record.buildSeconds,
      elfFiles: record.elfFiles,
    };
  }
  const started = Date.now();
  mkdirSync(snapCacheDir(), { recursive: true });
  // Beside the upstream cache (one file system), so the large files are hard links.
  const prime = join(snapCacheDir(), `prime-${key}-${process.pid}`);
  try {
    log(`assembling the prime tree for inputs ${key}`);
    const tree = assemblePrime({
      prime,
      upstreamCache: options.upstreamCache,
      ...(options.projectRoot ? { projectRoot: options.projectRoot } : {}),
    });
    // A build (npm run build) during the assembly would pack files the key does not describe.
    const after = snapInputsKey(options.projectRoot ?? PROJECT_ROOT, options.upstreamCache);
    if (after !== key)
      throw new Error(`the snap's inputs changed while it was assembled (${key} -> ${after}): run it again`);
    const check = checkPrimeTree(tree.prime);
    if (check.problems.length > 0)
      throw new Error(`the prime tree is not a valid snap:\n  ${check.problems.join('\n  ')}`);
    mkdirSync(join(file, '..'), { recursive: true });
    log(`packing ${file} (mksquashfs, xz)`);
    const packed = packSquashfs(tree.prime, file);
    const record: BuildRecord = {
      key,
      bytes: packed.bytes,
      buildSeconds: Math.round((Date.now() - started) / 100) / 10,
      elfFiles: check.elfFiles,
      builtAt: new Date().toISOString(),
    };
    writeFileSync(recordFile, `${JSON.stringify(record, null, 2)}\n`);
    prune(builtSnapsDir(options.upstreamCache), key);
    return {
      file,
      key,
      bytes: record.bytes,
      built: true,
      buildSeconds: record.buildSeconds,
      elfFiles: record.elfFiles,
    };
  } finally {
    rmSync(prime, { recursive: true, force: true });
  }
}
