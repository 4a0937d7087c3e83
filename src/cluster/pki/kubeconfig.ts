/**
 * Component kubeconfigs as YAML: one cluster, one user, one context. The CA and the client
 * certificate and key are embedded as base64 data (see layout.ts for why not file paths).
 * Pure: rendering and parsing only; the files are written by node-set.ts.
 */
import { parse, stringify } from 'yaml';
import { MicroK8sError } from '../../lib/errors.js';

/** Every component reaches the API server through the node's local endpoint. */
export const API_SERVER_URL = 'https://127.0.0.1:16443';
const CLUSTER_NAME = 'microk8s-cluster';
const CONTEXT_NAME = 'microk8s';

export interface KubeconfigContent {
  readonly server: string;
  readonly user: string;
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (text: unknown) =>
  typeof text === 'string' ? Buffer.from(text, 'base64').toString('utf8') : '';

export function renderKubeconfig(content: KubeconfigContent): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: CLUSTER_NAME,
        cluster: { server: content.server, 'certificate-authority-data': b64(content.caPem) },
      },
    ],
    users: [
      {
        name: content.user,
        user: { 'client-certificate-data': b64(content.certPem), 'client-key-data': b64(content.keyPem) },
      },
    ],
    contexts: [{ name: CONTEXT_NAME, context: { cluster: CLUSTER_NAME, user: content.user } }],
    'current-context': CONTEXT_NAME,
    preferences: {},
  });
}

interface Named<T> {
  name?: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}

function pick<T>(list: unknown, name: unknown, field: 'cluster' | 'user' | 'context'): T | undefined {
  if (!Array.isArray(list)) return undefined;
  const entry = (list as Named<T>[]).find((item) => item && item.name === name);
  return entry?.[field];
}

/**
 * What the current context of a kubeconfig points at. A file that is not a kubeconfig of this
 * shape is MK_TLS: it is re-issued by the ensure path and reported by --check.
 */
export function parseKubeconfig(text: string, where: string): KubeconfigContent {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new MicroK8sError('MK_TLS', `${where} is not valid YAML`, {}, { cause: error });
  }
  if (!doc || typeof doc !== 'object') throw new MicroK8sError('MK_TLS', `${where} is not a kubeconfig`);
  const context = pick<{ cluster?: unknown; user?: unknown }>(
    doc.contexts,
    doc['current-context'],
    'context',
  );
  const cluster = pick<Record<string, unknown>>(doc.clusters, context?.cluster, 'cluster');
  const user = pick<Record<string, unknown>>(doc.users, context?.user, 'user');
  if (!context || !cluster || !user || typeof cluster.server !== 'string') {
    throw new MicroK8sError('MK_TLS', `${where} has no usable current context`);
  }
  return {
    server: cluster.server,
    user: String(context.user),
    caPem: unb64(cluster['certificate-authority-data']),
    certPem: unb64(user['client-certificate-data']),
    keyPem: unb64(user['client-key-data']),
  };
}
