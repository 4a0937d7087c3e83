/**
 * `npm run build:upstream`: builds every pinned upstream part (snap/local/<part>/) into the
 * cache outside the clone, then points <cache>/bin at the outputs, and builds the local images
 * (snap/local/images) into <cache>/images. A part whose key (Go
 * version, spec, wrapper module files) is already in the cache is not built again, so a
 * second run is a no-op. Ends with each binary's version and sha256.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { upstreamCacheDir } from '../../../src/lib/upstream-paths.js';
import { buildLocalImages } from '../images/build-images.js';
import { cacheKey, sha256File } from './cache-key.js';
import { ensureDebianPackages } from './debian-deps.js';
import { goBuild } from './go-build.js';
import { type GoPart, PARTS } from './parts.js';

const LOCAL = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface PartManifest {
  readonly part: string;
  readonly version: string;
  readonly key: string;
  readonly builtSeconds: number;
  readonly sha256: Record<string, string>;
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function goVersion(): string {
  return execFileSync('go', ['env', 'GOVERSION'], { env: { ...process.env, GOTOOLCHAIN: 'local' } })
    .toString()
    .trim();
}

async function buildPart(
  part: GoPart,
  cache: string,
  go: string,
): Promise<{ dir: string; manifest: PartManifest }> {
  const moduleDir = join(LOCAL, part.moduleDir);
  const key = cacheKey({ spec: part, goVersion: go, moduleDir });
  const dir = join(cache, 'parts', `${part.name}-${key}`);
  const manifestPath = join(dir, 'manifest.json');
  if (existsSync(manifestPath)) {
    log(`${part.name} ${part.version}: cached (${key})`);
    return { dir, manifest: JSON.parse(readFileSync(manifestPath, 'utf8')) as PartManifest };
  }
  log(`${part.name} ${part.version}: building (${key})`);
  ensureDebianPackages(part.debianBuildDeps ?? [], log);
  const started = Date.now();
  const scratch = `${dir}.tmp-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const sha256: Record<string, string> = {};
  for (const binary of part.binaries) {
    const output = join(scratch, binary.name);
    await goBuild(part, binary, moduleDir, output, log);
    sha256[binary.name] = sha256File(output);
  }
  const manifest: PartManifest = {
    part: part.name,
    version: part.version,
    key,
    builtSeconds: Math.round((Date.now() - started) / 1000),
    sha256,
  };
  writeFileSync(join(scratch, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  if (existsSync(dir)) rmSync(scratch, { recursive: true, force: true });
  else renameSync(scratch, dir);
  log(`${part.name}: built in ${manifest.builtSeconds}s`);
  return { dir, manifest };
}

/** Points bin/NAME at the part's file, replacing the old link in one rename. */
function link(bin: string, name: string, target: string): void {
  const temp = join(bin, `.${name}.${process.pid}`);
  rmSync(temp, { force: true });
  symlinkSync(target, temp);
  renameSync(temp, join(bin, name));
}

/** Older builds of a part are removed once bin/ points at the new one. */
function prune(cache: string, part: string, keep: string): void {
  const parts = join(cache, 'parts');
  for (const name of readdirSync(parts)) {
    if (name.startsWith(`${part}-`) && join(parts, name) !== keep && !name.includes('.tmp-')) {
      rmSync(join(parts, name), { recursive: true, force: true });
    }
  }
}

/** The first line a binary prints for its version (flanneld prints it on stderr). */
function reportedVersion(bin: string, name: string, args: readonly string[]): string {
  const run = spawnSync(join(bin, name), [...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  if (run.error || run.status !== 0) {
    const why = run.error?.message ?? `exit ${run.status ?? run.signal}`;
    return `(version check failed: ${why.split('\n')[0]})`;
  }
  return (run.stdout.toString().trim() || run.stderr.toString().trim()).split('\n')[0]?.trim() ?? '';
}

async function main(): Promise<void> {
  const cache = upstreamCacheDir();
  const bin = join(cache, 'bin');
  mkdirSync(join(cache, 'parts'), { recursive: true });
  mkdirSync(bin, { recursive: true });
  const go = goVersion();
  log(`upstream cache: ${cache} (${go})`);
  const rows: string[][] = [];
  for (const part of PARTS) {
    const { dir, manifest } = await buildPart(part, cache, go);
    for (const name of Object.keys(manifest.sha256)) link(bin, name, join(dir, name));
    for (const [name, target] of Object.entries(part.links ?? {})) link(bin, name, join(dir, target));
    prune(cache, part.name, dir);
    for (const [name, sha] of Object.entries(manifest.sha256)) {
      const args = part.versionArgs[name];
      rows.push([name, part.version, sha, args ? reportedVersion(bin, name, args) : '']);
    }
  }
  // The images need the pause program's Go build and Debian's busybox-static (apt).
  const images = await buildLocalImages(cache, log);
  log('');
  log(
    'component                 version   sha256                                                            reports',
  );
  for (const [name, version, sha, reports] of rows) {
    log(`${name?.padEnd(25)} ${version?.padEnd(9)} ${sha} ${reports}`);
  }
  log('');
  log('image                                     digest');
  for (const image of images) log(`${image.name.padEnd(41)} ${image.digest} (${image.size} bytes)`);
}

main().catch((error: unknown) => {
  process.stderr.write(`build:upstream failed: ${(error as Error).message}\n`);
  process.exit(1);
});
