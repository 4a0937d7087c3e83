/**
 * The node's admin credentials for the REST API: the server, the cluster CA and the client
 * certificate and key embedded in the admin kubeconfig (the one `microk8s config` prints),
 * pointing at this node's own API server on loopback.
 */
import { parse } from 'yaml';
import { adminKubeconfig } from '../../cluster/kubernetes/admin-config.js';
import { MicroK8sError } from '../../lib/errors.js';
import type { Paths } from '../../lib/paths.js';

export interface ApiCredentials {
  readonly server: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

interface Kubeconfig {
  clusters?: { cluster?: { server?: string; 'certificate-authority-data'?: string } }[];
  users?: { user?: { 'client-certificate-data'?: string; 'client-key-data'?: string } }[];
}

const decode = (b64: string | undefined) => (b64 ? Buffer.from(b64, 'base64').toString('utf8') : '');

export function adminCredentials(paths: Paths): ApiCredentials {
  const doc = parse(adminKubeconfig(paths, { loopback: true })) as Kubeconfig;
  const cluster = doc.clusters?.[0]?.cluster;
  const user = doc.users?.[0]?.user;
  const creds = {
    server: cluster?.server ?? '',
    ca: decode(cluster?.['certificate-authority-data']),
    cert: decode(user?.['client-certificate-data']),
    key: decode(user?.['client-key-data']),
  };
  if (!creds.server || !creds.ca || !creds.cert || !creds.key)
    throw new MicroK8sError(
      'MK_NO_CREDENTIALS',
      'the admin kubeconfig lacks a server, CA or client certificate',
    );
  return creds;
}
