/**
 * The sandbox (pause) image: our own pause program (snap/local/pause, Go, no dependencies),
 * static, in a one-file image that runs as nobody, as upstream's does.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SANDBOX_IMAGE } from '../../../src/services/images/names.js';
import { buildImageLayout } from '../../../src/services/images/oci-layout.js';
import { type BuiltImage, cachedImage, libraryInputs, recipeHash, storeImage } from './recipe-cache.js';
import { tool } from './tool.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCE_DIR = join(HERE, '..', 'pause');
const GO_BUILD_TIMEOUT_MS = 10 * 60_000;
// Static, no VCS stamp (it would change the binary, so the digest, on every commit), paths trimmed.
const GO_ENV = {
  GOTOOLCHAIN: 'local',
  CGO_ENABLED: '0',
  GOOS: 'linux',
  GOARCH: 'amd64',
  GOFLAGS: '-buildvcs=false',
};
const GO_BUILD_ARGS = ['build', '-trimpath', '-ldflags', '-s -w', '-o'];

export async function buildPauseImage(cacheDir: string, log: (line: string) => void): Promise<BuiltImage> {
  const goVersion = (
    await tool('go', ['env', 'GOVERSION'], { env: GO_ENV, timeoutMs: GO_BUILD_TIMEOUT_MS })
  ).trim();
  const hash = recipeHash({
    ...(await libraryInputs()),
    goVersion,
    goMod: await readFile(join(SOURCE_DIR, 'go.mod')),
    mainGo: await readFile(join(SOURCE_DIR, 'main.go')),
    recipe: await readFile(fileURLToPath(import.meta.url)),
    name: SANDBOX_IMAGE,
  });
  const cached = await cachedImage(cacheDir, 'pause', hash);
  if (cached) {
    log(`pause: up to date (${cached.name})`);
    return cached;
  }
  log(`pause: go build with ${goVersion}`);
  const work = await mkdtemp(join(tmpdir(), 'microk8s-pause-'));
  try {
    const binary = join(work, 'pause');
    await tool('go', [...GO_BUILD_ARGS, binary, '.'], {
      cwd: SOURCE_DIR,
      env: GO_ENV,
      timeoutMs: GO_BUILD_TIMEOUT_MS,
    });
    const layout = buildImageLayout({
      name: SANDBOX_IMAGE,
      files: [{ type: 'file', path: 'pause', mode: 0o755, data: await readFile(binary) }],
      entrypoint: ['/pause'],
      user: '65535:65535',
      createdBy: `microk8s snap/local/pause, ${goVersion}, CGO_ENABLED=0 -trimpath -ldflags "-s -w"`,
    });
    return await storeImage(cacheDir, 'pause', hash, layout);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
