/**
 * Image names. Images we build carry a `localhost/microk8s/...` name: a local build must never
 * pose as an upstream registry's image (a pull would replace it, or a user would trust it for
 * something it is not). The table maps the upstream names the node would otherwise use to ours.
 */
import { MicroK8sError } from '../../lib/errors.js';

/** Our own sandbox image: the pause program in snap/local/pause. */
export const SANDBOX_IMAGE = 'localhost/microk8s/pause:3.10-mk1';
/** The registry part of every local build. */
export const LOCAL_REGISTRY = 'localhost';

/** The dns addon's CoreDNS, built from snap/local/addons/coredns. */
export const COREDNS_IMAGE = 'localhost/microk8s/coredns:1.14.7-mk1';
/**
 * The hostpath-storage addon's provisioner (snap/local/addons/hostpath-provisioner): our own
 * program, so there is no upstream name for it; its manifest names this image.
 */
export const HOSTPATH_PROVISIONER_IMAGE = 'localhost/microk8s/hostpath-provisioner:1.0.0-mk1';
/** The metrics-server addon's server, built from snap/local/addons/metrics-server. */
export const METRICS_SERVER_IMAGE = 'localhost/microk8s/metrics-server:0.8.0-mk1';

/**
 * The registry addon's distribution registry (snap/local/addons/registry), built from
 * github.com/distribution/distribution/v3 v3.1.2 with only the filesystem driver; its manifest
 * names this image (upstream publishes no image of exactly this build).
 */
export const REGISTRY_IMAGE = 'localhost/microk8s/registry:3.1.2-mk1';

/**
 * The metallb addon's controller and speaker (snap/local/addons/metallb): MetalLB v0.16.1's
 * own programs, built on the k8s.io release of the Kubernetes part.
 */
export const METALLB_CONTROLLER_IMAGE = 'localhost/microk8s/metallb-controller:0.16.1-mk1';
export const METALLB_SPEAKER_IMAGE = 'localhost/microk8s/metallb-speaker:0.16.1-mk1';

/** Upstream image name -> the local image that stands in for it on this node. */
export const LOCAL_IMAGE_TABLE: Readonly<Record<string, string>> = {
  'registry.k8s.io/pause:3.10': SANDBOX_IMAGE,
  'registry.k8s.io/pause:3.10.1': SANDBOX_IMAGE,
  'registry.k8s.io/coredns/coredns:v1.14.7': COREDNS_IMAGE,
  'registry.k8s.io/metrics-server/metrics-server:v0.8.0': METRICS_SERVER_IMAGE,
  'quay.io/metallb/controller:v0.16.1': METALLB_CONTROLLER_IMAGE,
  'quay.io/metallb/speaker:v0.16.1': METALLB_SPEAKER_IMAGE,
};

// Distribution's reference grammar, simplified to what a full, tagged name needs.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN =
  '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?';
const TAG = '[\\w][\\w.-]{0,127}';
const FULL_NAME = new RegExp(`^(${DOMAIN})/(${COMPONENT}(?:/${COMPONENT})*):(${TAG})$`);

export interface ImageName {
  readonly domain: string;
  readonly path: string;
  readonly tag: string;
}

/** A full name with a registry and a tag, e.g. localhost/microk8s/busybox:1.36.1. */
export function parseImageName(name: string): ImageName {
  const match = FULL_NAME.exec(name);
  if (!match || name.length > 255) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `'${name}' is not a full image name (REGISTRY/PATH:TAG, lowercase path, e.g. localhost/microk8s/pause:3.10-mk1)`,
      { name },
    );
  }
  return { domain: match[1]!, path: match[2]!, tag: match[3]! };
}

/** A name for an image built here: full, and under the local registry. */
export function localImageName(name: string): string {
  const parsed = parseImageName(name);
  if (parsed.domain !== LOCAL_REGISTRY) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `a local build must be named ${LOCAL_REGISTRY}/..., not '${name}': it must not pose as another registry's image`,
      { name },
    );
  }
  return name;
}

/** A tag from free text such as a Debian version: '1:1.36.1-9+b1' -> '1.36.1-9-b1'. */
export function tagFromVersion(version: string): string {
  const withoutEpoch = version.replace(/^\d+:/, '');
  const tag = withoutEpoch.replace(/[^\w.-]+/g, '-').replace(/^[.-]+/, '');
  return tag.slice(0, 128);
}
