/**
 * The core addons' images: one entry per image, each built by addon-image-build.ts from a
 * pinned wrapper Go module under snap/local/addons/<module>. This list is not part of any
 * image's recipe hash, so adding an entry builds only that image.
 */
import {
  COREDNS_IMAGE,
  HOSTPATH_PROVISIONER_IMAGE,
  METRICS_SERVER_IMAGE,
  REGISTRY_IMAGE,
} from '../../../src/services/images/names.js';
import { type AddonImage, addonPart, buildAddonImage } from './addon-image-build.js';
import type { BuiltImage } from './recipe-cache.js';
import { tool } from './tool.js';

export const ADDON_IMAGES: readonly AddonImage[] = [
  // CoreDNS with the plugins the dns addon uses (main.go), not the cloud providers' SDKs.
  { slug: 'addon-coredns', image: COREDNS_IMAGE, part: addonPart('coredns', 'v1.14.7'), user: '65532:65532' },
  // Creates and removes folders under the host path it is given: runs as root.
  {
    slug: 'addon-hostpath-provisioner',
    image: HOSTPATH_PROVISIONER_IMAGE,
    part: addonPart('hostpath-provisioner', 'v1.0.0'),
    user: '0:0',
  },
  // metrics-server's command with its OpenAPI definitions also under their model names (main.go).
  {
    slug: 'addon-metrics-server',
    image: METRICS_SERVER_IMAGE,
    part: addonPart('metrics-server', 'v0.8.0', {
      ldflags: ['-s', '-w', '-X k8s.io/client-go/pkg/version.gitVersion=v0.8.0'],
    }),
    user: '65534:65534',
  },
  // The distribution registry with its default config; its volume belongs to root (hostpath).
  {
    slug: 'addon-registry',
    image: REGISTRY_IMAGE,
    part: addonPart('registry', 'v3.1.2'),
    user: '0:0',
    args: ['serve', '/etc/distribution/config.yml'],
    files: [{ source: 'config.yml', path: 'etc/distribution/config.yml', mode: 0o644 }],
  },
];

export async function buildAddonImages(cacheDir: string, log: (line: string) => void): Promise<BuiltImage[]> {
  const goVersion = (
    await tool('go', ['env', 'GOVERSION'], { env: { GOTOOLCHAIN: 'local' }, timeoutMs: 60_000 })
  ).trim();
  const out: BuiltImage[] = [];
  for (const spec of ADDON_IMAGES) out.push(await buildAddonImage(cacheDir, spec, goVersion, log));
  return out;
}
