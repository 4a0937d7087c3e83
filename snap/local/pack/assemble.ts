/**
 * The prime tree snapcraft would produce from snap/snapcraft.yaml, assembled from what the
 * parts build here: the upstream binaries from the build cache of `npm run build:upstream` (the
 * same pinned recipes the snapcraft parts run), the local image tars, the project's pinned Node
 * runtime, our package (bin/, dist/, the package's files and its production dependencies from
 * package-lock.json), the command wrappers, the hooks and meta/snap.yaml. Large files are hard
 * links into the cache where the file system allows (the tree is only read), else copies.
 */
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { PARTS } from '../build/parts.js';
import { PRIME, partBinDir, snapImageSlugs } from './layout.js';
import { PROJECT_ROOT, readSnapcraft } from './project.js';
import { snapArchitecture, snapYamlText } from './snap-yaml.js';

export interface AssembleOptions {
  /** The prime folder (replaced). */
  readonly prime: string;
  /** The upstream build cache (bin/, images/). */
  readonly upstreamCache: string;
  readonly projectRoot?: string;
  readonly nodeArch?: string;
}

export interface AssembleResult {
  readonly prime: string;
  readonly architecture: string;
  readonly version: string;
  readonly name: string;
}

/** Hard link when the file system allows, else a copy; the mode kept either way. */
function place(source: string, target: string, mode?: number): void {
  mkdirSync(dirname(target), { recursive: true });
  const real = realpathSync(source);
  try {
    linkSync(real, target);
  } catch {
    copyFileSync(real, target);
  }
  if (mode !== undefined) chmodSync(target, mode);
}

function missing(what: string, path: string): never {
  throw new Error(
    `${what} is missing at ${path}: run \`npm run build:upstream\` (and \`npm run build\`) first`,
  );
}

function upstreamParts(prime: string, cache: string): void {
  for (const part of PARTS) {
    const dir = join(prime, partBinDir(part));
    for (const binary of part.binaries) {
      const source = join(cache, 'bin', binary.name);
      if (!existsSync(source)) missing(`${part.name}'s ${binary.name}`, source);
      place(source, join(dir, binary.name));
    }
    for (const [link, target] of Object.entries(part.links ?? {})) symlinkSync(target, join(dir, link));
  }
  for (const slug of snapImageSlugs()) {
    const source = join(cache, 'images', `${slug}.tar`);
    if (!existsSync(source)) missing(`the image ${slug}`, source);
    place(source, join(prime, PRIME.images, `${slug}.tar`));
  }
}

/** Files of a dependency that a snap never loads: sources, build objects, other platforms' addons. */
function keepDependencyFile(pkg: string, rel: string, nodeArch: string): boolean {
  if (pkg === 'node_modules/better-sqlite3') {
    const top = rel.split('/')[0];
    if (top === 'deps' || top === 'src' || top === 'build') return false;
    if (top === 'prebuilds' && rel !== 'prebuilds' && rel !== `prebuilds/linux-${nodeArch}.node`)
      return false;
  }
  return !rel.startsWith('.bin');
}

function app(prime: string, root: string, nodeArch: string): void {
  const target = join(prime, PRIME.app);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files?: string[] };
  if (!existsSync(join(root, 'dist', 'commands'))) missing('the compiled CLI (dist/)', join(root, 'dist'));
  mkdirSync(target, { recursive: true });
  copyFileSync(join(root, 'package.json'), join(target, 'package.json'));
  for (const entry of pkg.files ?? []) cpSync(join(root, entry), join(target, entry), { recursive: true });
  // The production dependency closure, as npm resolved it (dev-only packages are marked).
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  for (const [path, meta] of Object.entries(lock.packages)) {
    if (!path.startsWith('node_modules/') || meta.dev || !existsSync(join(root, path))) continue;
    cpSync(join(root, path), join(target, path), {
      recursive: true,
      filter: (src) => {
        const rel = relative(join(root, path), src);
        // A nested node_modules is another package of the lock: copied on its own turn.
        if (rel.split('/').includes('node_modules')) return false;
        return rel === '' || keepDependencyFile(path, rel, nodeArch);
      },
    });
  }
}

function nodeRuntime(prime: string, root: string): void {
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
  place(existsSync(pinned) ? pinned : process.execPath, join(prime, PRIME.node), 0o755);
}

function scripts(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    copyFileSync(join(from, name), join(to, name));
    chmodSync(join(to, name), 0o755);
  }
}

export function assemblePrime(options: AssembleOptions): AssembleResult {
  const root = options.projectRoot ?? PROJECT_ROOT;
  const nodeArch = options.nodeArch ?? process.arch;
  const architecture = snapArchitecture(nodeArch);
  const project = readSnapcraft(join(root, 'snap', 'snapcraft.yaml'));
  const { prime } = options;
  rmSync(prime, { recursive: true, force: true });
  mkdirSync(join(prime, PRIME.meta), { recursive: true });
  upstreamParts(prime, options.upstreamCache);
  nodeRuntime(prime, root);
  app(prime, root, nodeArch);
  scripts(join(root, 'snap', 'local', 'wrappers'), join(prime, PRIME.commands));
  scripts(join(root, 'snap', 'hooks'), join(prime, PRIME.hooks));
  writeFileSync(join(prime, PRIME.snapYaml), snapYamlText(project, architecture));
  return { prime, architecture, version: project.version, name: basename(project.name) };
}
