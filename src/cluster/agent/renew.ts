/**
 * A worker renews its kubelet and kube-proxy certificates before they expire, so they can live
 * months instead of a year: fresh keys (they never leave the worker), CSRs sent to a cluster
 * agent that is verified by the cluster CA, and the current kubelet certificate as the proof of
 * who asks (mutual TLS; the agent refuses a revoked one and any other name, see handlers.ts).
 * The new kubeconfigs replace the old ones atomically; the kubelet and kube-proxy are restarted
 * to load them.
 *
 * The agent to ask: the one the worker joined through (recorded at join in
 * credentials/cluster-agent.json), then the other control-plane nodes on the same port.
 * `refresh-certs` on a worker renews now; the API-server proxy, which runs on every worker,
 * checks every few hours and renews when less than a third of the lifetime is left.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MicroK8sError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { writeFileAtomic } from '../../node/atomic-write.js';
import { restartService } from '../../services/restart.js';
import { readProxyArgsFile } from '../apiserver-proxy/config.js';
import { PRIVATE_MODE } from '../files.js';
import { parseKubeconfig, renderKubeconfig } from '../pki/kubeconfig.js';
import { createWorkerRequest } from './certs.js';
import { AgentClient } from './client.js';
import type { AgentContext } from './context.js';
import { API_PREFIX, WORKER_CERT_NAMES, type WorkerCertName } from './protocol.js';

const log = createLogger('cluster.renew');

export const RENEW_LIMITS = {
  /** Renew when less than this part of the certificate's lifetime is left. */
  renewBelowFraction: 1 / 3,
  /** How often the proxy daemon looks. */
  checkEveryMs: 6 * 3600_000,
} as const;

const AGENT_FILE = 'cluster-agent.json';
const SERVICES: Record<WorkerCertName, 'kubelet' | 'kube-proxy'> = {
  kubelet: 'kubelet',
  proxy: 'kube-proxy',
};

export interface AgentEndpoint {
  readonly host: string;
  readonly port: number;
}

export async function recordAgentEndpoint(ctx: AgentContext, endpoint: AgentEndpoint): Promise<void> {
  await writeFileAtomic(join(ctx.credentials, AGENT_FILE), `${JSON.stringify(endpoint)}\n`, {
    mode: PRIVATE_MODE,
  });
}

/** The agent the worker joined through, then the other control-plane nodes on its port. */
export async function agentEndpoints(ctx: AgentContext): Promise<AgentEndpoint[]> {
  let joined: AgentEndpoint;
  try {
    joined = JSON.parse(await readFile(join(ctx.credentials, AGENT_FILE), 'utf8')) as AgentEndpoint;
  } catch (error) {
    throw new MicroK8sError(
      'MK_NOT_RUNNING',
      'this worker does not know a cluster agent to renew its certificates at (join it again)',
      {},
      { cause: error },
    );
  }
  let others: string[] = [];
  try {
    others = readProxyArgsFile(join(ctx.paths.args, 'apiserver-proxy')).upstreams.map((u) => u.host);
  } catch {
    // no proxy args: the joined agent alone
  }
  const hosts = [...new Set([joined.host, ...others])];
  return hosts.map((host) => ({ host, port: joined.port }));
}

export interface RenewResult {
  /** What was renewed (empty: nothing was due). */
  readonly renewed: WorkerCertName[];
  /** The kubelet certificate's expiry before the renewal. */
  readonly notAfter: string;
  readonly agent?: string;
}

/** Whether less than the renewal fraction of the certificate's lifetime is left. */
export function renewalDue(cert: X509Certificate, now: number): boolean {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return to - now < (to - from) * RENEW_LIMITS.renewBelowFraction;
}

export async function renewWorkerCertificates(
  ctx: AgentContext,
  options: { force: boolean; restart: boolean },
): Promise<RenewResult> {
  const paths = ctx.certs.kubeconfigs;
  const current = parseKubeconfig(await readFile(paths.kubelet, 'utf8'), paths.kubelet);
  const cert = new X509Certificate(current.certPem);
  const notAfter = new Date(cert.validTo).toISOString();
  if (!options.force && !renewalDue(cert, Date.now())) return { renewed: [], notAfter };
  const hostname = /^CN=system:node:(.*)$/m.exec(cert.subject)?.[1];
  if (hostname === undefined)
    throw new MicroK8sError('MK_CERTS_MISSING', `${paths.kubelet} holds no kubelet identity`);
  const keys: Partial<Record<WorkerCertName, string>> = {};
  const csrs: Partial<Record<WorkerCertName, string>> = {};
  for (const name of WORKER_CERT_NAMES) {
    const request = await createWorkerRequest(ctx.paths.data, name, hostname);
    keys[name] = request.key;
    csrs[name] = request.csr;
  }
  let lastError: unknown;
  for (const endpoint of await agentEndpoints(ctx)) {
    const client = new AgentClient({
      ...endpoint,
      ca: current.caPem,
      clientCert: { cert: current.certPem, key: current.keyPem },
      skipVerify: false,
    });
    let answer: { certs: Partial<Record<WorkerCertName, string>> };
    try {
      answer = await client.request('POST', `${API_PREFIX}/sign-csr`, { csrs });
    } catch (error) {
      // A refusal (revoked, unknown) is the cluster's answer: another agent would say the same.
      if (error instanceof MicroK8sError && error.code !== 'MK_AGENT_UNREACHABLE') throw error;
      lastError = error;
      continue;
    } finally {
      await client.close();
    }
    const renewed: WorkerCertName[] = [];
    for (const name of WORKER_CERT_NAMES) {
      const pem = answer.certs[name];
      if (pem === undefined) continue;
      const old = parseKubeconfig(await readFile(paths[name], 'utf8'), paths[name]);
      const text = renderKubeconfig({
        server: old.server,
        user: name,
        caPem: old.caPem,
        certPem: pem,
        keyPem: keys[name]!,
      });
      await writeFileAtomic(paths[name], text, { mode: PRIVATE_MODE });
      renewed.push(name);
    }
    const agent = `${endpoint.host}:${endpoint.port}`;
    log.info('renewed the worker certificates', { renewed, agent, previousNotAfter: notAfter });
    if (options.restart) {
      for (const name of renewed) {
        const outcome = await restartService(ctx.paths, SERVICES[name]);
        log.info('restarted on the renewed certificate', { service: SERVICES[name], outcome: outcome.kind });
      }
    }
    return { renewed, notAfter, agent };
  }
  throw lastError instanceof Error
    ? lastError
    : new MicroK8sError('MK_AGENT_UNREACHABLE', 'no cluster agent to renew the certificates at');
}
