/**
 * The core addons' images: one entry per image, each built by addon-image-build.ts from a
 * pinned wrapper Go module under snap/local/addons/<module>. This list is not part of any
 * image's recipe hash, so adding an entry builds only that image.
 */
import {
  COREDNS_IMAGE,
  HOSTPATH_PROVISIONER_IMAGE,
  METALLB_CONTROLLER_IMAGE,
  METALLB_SPEAKER_IMAGE,
  METRICS_SERVER_IMAGE,
  REGISTRY_IMAGE,
} from '../../../src/services/images/names.js';
import type { SourcePatch } from '../build/parts.js';
import { type AddonImage, addonPart, buildAddonImage } from './addon-image-build.js';
import type { BuiltImage } from './recipe-cache.js';
import { tool } from './tool.js';

// MetalLB v0.16.1 pins controller-runtime v0.22, which does not build on client-go v0.36
// (ResourceEventHandlerRegistration gained HasSyncedChecker); v0.24.1 does, and changed one
// signature MetalLB calls: its conversion webhook handler now takes the manager's converter
// registry. (The addon runs with the webhooks off; the call must still compile.)
const METALLB_PATCHES: readonly SourcePatch[] = [
  {
    module: 'go.universe.tf/metallb',
    file: 'internal/k8s/webhook.go',
    find: 'conversion.NewWebhookHandler(mgr.GetScheme())',
    replace: 'conversion.NewWebhookHandler(mgr.GetScheme(), mgr.GetConverterRegistry())',
    why: 'controller-runtime v0.24 conversion.NewWebhookHandler(scheme, registry)',
  },
];

const METALLB_PART = addonPart('metallb', 'v0.16.1', {
  binaries: [
    { pkg: 'go.universe.tf/metallb/controller', name: 'controller', patches: METALLB_PATCHES },
    { pkg: 'go.universe.tf/metallb/speaker', name: 'speaker', patches: METALLB_PATCHES },
  ],
});

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
  // MetalLB's two programs from one module (its tools); the controller needs no privilege,
  // the speaker answers ARP on the node's links (root, NET_RAW in its manifest).
  {
    slug: 'addon-metallb-controller',
    image: METALLB_CONTROLLER_IMAGE,
    part: METALLB_PART,
    binary: 'controller',
    user: '65534:65534',
  },
  {
    slug: 'addon-metallb-speaker',
    image: METALLB_SPEAKER_IMAGE,
    part: METALLB_PART,
    binary: 'speaker',
    user: '0:0',
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
