/**
 * The test image: Debian's busybox-static (one static binary) with a link per applet in /bin,
 * a root and a nobody user, /tmp. Named after the Debian version it was made from.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MicroK8sError } from '../../../src/lib/errors.js';
import { tagFromVersion } from '../../../src/services/images/names.js';
import { buildImageLayout } from '../../../src/services/images/oci-layout.js';
import type { TarEntry } from '../../../src/services/images/tar-write.js';
import { type BuiltImage, cachedImage, libraryInputs, recipeHash, storeImage } from './recipe-cache.js';
import { tool } from './tool.js';

export const BUSYBOX_PACKAGE = 'busybox-static';
export const BUSYBOX_REPOSITORY = 'localhost/microk8s/busybox';
const APT_TIMEOUT_MS = 5 * 60_000;
function buildFailed(message: string): MicroK8sError {
  return new MicroK8sError('MK_IMAGE_BUILD_FAILED', message, { package: BUSYBOX_PACKAGE });
}

const APPLET = /^[a-z0-9_.[\]-]+$/;

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nnogroup:x:65534:\n';

/** The version apt would download, from the local package lists (no network). */
async function candidateVersion(): Promise<string> {
  const stdout = await tool('apt-cache', ['policy', BUSYBOX_PACKAGE], { timeoutMs: APT_TIMEOUT_MS });
  const version = /Candidate:\s*(\S+)/.exec(stdout)?.[1];
  if (!version || version === '(none)') {
    throw buildFailed(`apt knows no ${BUSYBOX_PACKAGE}: run \`apt-get update\` first`);
  }
  return version;
}

function layerFiles(busybox: Buffer, applets: readonly string[]): TarEntry[] {
  const text = (path: string, data: string): TarEntry => ({
    type: 'file',
    path,
    mode: 0o644,
    data: Buffer.from(data),
  });
  return [
    { type: 'file', path: 'bin/busybox', mode: 0o755, data: busybox },
    ...applets.map((applet): TarEntry => ({ type: 'symlink', path: `bin/${applet}`, target: 'busybox' })),
    { type: 'symlink', path: 'usr/bin/env', target: '/bin/busybox' },
    text('etc/passwd', PASSWD),
    text('etc/group', GROUP),
    text('etc/hostname', 'busybox\n'),
    { type: 'dir', path: 'root', mode: 0o700 },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'var/www', mode: 0o755 },
  ];
}

export async function buildBusyboxImage(cacheDir: string, log: (line: string) => void): Promise<BuiltImage> {
  const version = await candidateVersion();
  const name = `${BUSYBOX_REPOSITORY}:${tagFromVersion(version)}`;
  const hash = recipeHash({
    ...(await libraryInputs()),
    package: `${BUSYBOX_PACKAGE}=${version}`,
    recipe: await readFile(fileURLToPath(import.meta.url)),
  });
  const cached = await cachedImage(cacheDir, 'busybox', hash);
  if (cached) {
    log(`busybox: up to date (${cached.name})`);
    return cached;
  }
  log(`busybox: apt-get download ${BUSYBOX_PACKAGE}=${version}`);
  const work = await mkdtemp(join(tmpdir(), 'microk8s-busybox-'));
  try {
    await tool('apt-get', ['download', `${BUSYBOX_PACKAGE}=${version}`], {
      cwd: work,
      timeoutMs: APT_TIMEOUT_MS,
    });
    const deb = (await readdir(work)).find((file) => file.endsWith('.deb'));
    if (!deb) throw buildFailed(`apt-get download left no .deb for ${BUSYBOX_PACKAGE}`);
    const root = join(work, 'root');
    await tool('dpkg-deb', ['-x', join(work, deb), root], { timeoutMs: APT_TIMEOUT_MS });
    const binary = join(root, 'bin', 'busybox');
    // The applets this build of busybox has: sh, wget, httpd, nc, sleep, ... one link each.
    const stdout = await tool(binary, ['--list'], { timeoutMs: APT_TIMEOUT_MS });
    const applets = [...new Set(stdout.split('\n').map((line) => line.trim()))]
      .filter((applet) => APPLET.test(applet) && applet !== 'busybox')
      .sort();
    for (const needed of ['sh', 'wget', 'httpd', 'nc', 'sleep', 'hostname']) {
      if (!applets.includes(needed))
        throw buildFailed(`${BUSYBOX_PACKAGE} ${version} has no '${needed}' applet`);
    }
    const layout = buildImageLayout({
      name,
      files: layerFiles(await readFile(binary), applets),
      cmd: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      labels: { 'org.opencontainers.image.version': version },
      createdBy: `microk8s snap/local/images: Debian ${BUSYBOX_PACKAGE} ${version}, ${applets.length} applet links`,
    });
    return await storeImage(cacheDir, 'busybox', hash, layout);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
