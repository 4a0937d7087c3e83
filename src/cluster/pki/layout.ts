/**
 * The files of a node's certificate set, under SNAP_DATA/certs (paths.certs). The names follow
 * MicroK8s (ca.crt, server.crt, front-proxy-client.crt, serviceaccount.key, ...) so operators'
 * habits and scripts carry over.
 *
 * Kubeconfigs embed their CA and client certificate/key as data instead of naming files:
 * SNAP_DATA contains the snap revision, so a path written today would point into an old
 * revision after a refresh; embedded data also makes each kubeconfig one self-contained 0600
 * file that `kubectl --kubeconfig` can use anywhere.
 */
import { join } from 'node:path';

export interface KeyPair {
  readonly certPath: string;
  readonly keyPath: string;
}

export const KUBECONFIG_NAMES = ['admin', 'controller-manager', 'scheduler', 'kubelet', 'proxy'] as const;
export type KubeconfigName = (typeof KUBECONFIG_NAMES)[number];

/** Issued (non-CA) certificates kept as files; the kubeconfigs hold their own. */
export const LEAF_NAMES = [
  'server',
  'front-proxy-client',
  'peer',
  'apiserver-kubelet-client',
  'datastore-client',
] as const;
export type LeafName = (typeof LEAF_NAMES)[number];

export interface CertsLayout {
  readonly dir: string;
  readonly ca: KeyPair;
  readonly frontProxyCa: KeyPair;
  readonly leaves: Readonly<Record<LeafName, KeyPair>>;
  readonly serviceAccount: { readonly keyPath: string; readonly publicKeyPath: string };
  readonly kubeconfigDir: string;
  readonly kubeconfigs: Readonly<Record<KubeconfigName, string>>;
}

function pair(dir: string, name: string): KeyPair {
  return { certPath: join(dir, `${name}.crt`), keyPath: join(dir, `${name}.key`) };
}

export function certsLayout(dir: string): CertsLayout {
  const kubeconfigDir = join(dir, 'kubeconfig');
  return {
    dir,
    ca: pair(dir, 'ca'),
    frontProxyCa: pair(dir, 'front-proxy-ca'),
    leaves: {
      server: pair(dir, 'server'),
      'front-proxy-client': pair(dir, 'front-proxy-client'),
      peer: pair(dir, 'peer'),
      'apiserver-kubelet-client': pair(dir, 'apiserver-kubelet-client'),
      'datastore-client': pair(dir, 'datastore-client'),
    },
    serviceAccount: {
      keyPath: join(dir, 'serviceaccount.key'),
      publicKeyPath: join(dir, 'serviceaccount.pub'),
    },
    kubeconfigDir,
    kubeconfigs: Object.fromEntries(
      KUBECONFIG_NAMES.map((name) => [name, join(kubeconfigDir, `${name}.config`)]),
    ) as Record<KubeconfigName, string>,
  };
}
