/**
 * Who each certificate of a node says it is: the API server's names and addresses and the
 * identities Kubernetes reads from client certificates (CN = user, O = group). Pure.
 */
import { isIP } from 'node:net';
import { MicroK8sError } from '../../lib/errors.js';
import type { KubeconfigName } from './layout.js';
import { canonicalIp } from './validity.js';

/** The first address of the service range: what pods reach as `kubernetes.default`. */
export const SERVICE_IP = '10.152.183.1';
export const LOOPBACK_IP = '127.0.0.1';
export const KUBERNETES_DNS_NAMES = [
  'kubernetes',
  'kubernetes.default',
  'kubernetes.default.svc',
  'kubernetes.default.svc.cluster',
  'kubernetes.default.svc.cluster.local',
] as const;

export interface ClientIdentity {
  readonly commonName: string;
  readonly organization?: string;
}

const HOSTNAME_RE =
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** X.509 caps a CN at 64 characters, and the kubelet's CN is `system:node:` + hostname. */
const MAX_HOSTNAME_FOR_CN = 64 - 'system:node:'.length;

/** Kubernetes names nodes by their lowercased hostname; it must also fit a DNS SAN and a CN. */
export function nodeHostname(raw: string): string {
  const hostname = raw.trim().toLowerCase();
  if (!HOSTNAME_RE.test(hostname) || hostname.length > MAX_HOSTNAME_FOR_CN) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `the hostname ${JSON.stringify(raw)} cannot name a Kubernetes node: use letters, digits, '-' and '.', at most ${MAX_HOSTNAME_FOR_CN} characters`,
    );
  }
  return hostname;
}

/** Validated, canonical and without duplicates, in the order given. */
export function nodeIps(ips: readonly string[]): string[] {
  for (const ip of ips) {
    if (isIP(ip) === 0)
      throw new MicroK8sError('MK_INVALID_ARGUMENT', `invalid IP address ${JSON.stringify(ip)}`);
  }
  return [...new Set(ips.map(canonicalIp))];
}

export function apiServerNames(
  hostname: string,
  ips: readonly string[],
): { dnsNames: string[]; ips: string[] } {
  return {
    dnsNames: [...new Set([hostname, ...KUBERNETES_DNS_NAMES])],
    ips: nodeIps([...ips, LOOPBACK_IP, SERVICE_IP]),
  };
}

export function clientIdentity(name: KubeconfigName, hostname: string): ClientIdentity {
  switch (name) {
    case 'admin':
      return { commonName: 'admin', organization: 'system:masters' };
    case 'controller-manager':
      return { commonName: 'system:kube-controller-manager' };
    case 'scheduler':
      return { commonName: 'system:kube-scheduler' };
    case 'kubelet':
      return { commonName: `system:node:${hostname}`, organization: 'system:nodes' };
    case 'proxy':
      return { commonName: 'system:kube-proxy' };
  }
}
