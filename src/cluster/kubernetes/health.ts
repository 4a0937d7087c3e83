/**
 * Whether Kubernetes serves on this node, asked the way a user would: the API server's /readyz
 * with the admin identity, then this node's Node object (its Ready condition and the kubelet's
 * version). `microk8s status` shows it, and --wait-ready waits for both.
 */
import { join } from 'node:path';
import type { Paths } from '../../lib/paths.js';
import { readArgsFile } from '../../node/args-file.js';
import { readSupervisorReport } from '../../services/supervisor/state.js';
import type { ClientTls } from '../../services/upstream/daemons.js';
import { localApiRequest } from './local-api.js';
import { adminTls } from './node-daemons.js';

export interface KubernetesHealth {
  /** /readyz answered 200. */
  readonly apiServerReady: boolean;
  /** This node as the API server sees it; null while it is not registered or not reachable. */
  readonly node: { readonly name: string; readonly ready: boolean; readonly version: string } | null;
}

function get(path: string, tls: ClientTls): Promise<{ status: number; body: string } | undefined> {
  return localApiRequest(tls, { method: 'GET', path });
}

/** The node name the kubelet registers (its --hostname-override). */
export function kubeletNodeName(paths: Paths): string | undefined {
  return readArgsFile(join(paths.args, 'kubelet'), { missingOk: true }).get('hostname-override')?.[0];
}

/** Whether this node runs Kubernetes at all: its supervisor runs a kube-apiserver. */
export function runsKubernetes(paths: Paths): boolean {
  return readSupervisorReport(paths.run)?.services.some((s) => s.name === 'kube-apiserver') ?? false;
}

interface NodeObject {
  status?: { conditions?: { type?: string; status?: string }[]; nodeInfo?: { kubeletVersion?: string } };
}

export async function kubernetesHealth(paths: Paths): Promise<KubernetesHealth> {
  const tls = adminTls(paths);
  const readyz = await get('/readyz', tls);
  const apiServerReady = readyz?.status === 200;
  const name = kubeletNodeName(paths);
  if (!apiServerReady || name === undefined) return { apiServerReady, node: null };
  const answer = await get(`/api/v1/nodes/${encodeURIComponent(name)}`, tls);
  if (answer?.status !== 200) return { apiServerReady, node: null };
  const node = JSON.parse(answer.body) as NodeObject;
  const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  return {
    apiServerReady,
    node: { name, ready, version: node.status?.nodeInfo?.kubeletVersion ?? 'unknown' },
  };
}

/** The status line: `kubernetes: api server ready, node NAME Ready (vX.Y.Z)`. */
export function formatKubernetesHealth(k: KubernetesHealth): string {
  const node = k.node
    ? `node ${k.node.name} ${k.node.ready ? 'Ready' : 'NotReady'} (${k.node.version})`
    : 'node not registered';
  return `kubernetes: api server ${k.apiServerReady ? 'ready' : 'not ready'}, ${node}`;
}

export function kubernetesServes(health: KubernetesHealth): boolean {
  return health.apiServerReady && health.node?.ready === true;
}
