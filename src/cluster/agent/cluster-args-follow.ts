/**
 * A node follows the cluster-wide args of its kubelet and kube-proxy, and a control-plane node
 * those of its API server (../cluster-args.ts):
 * - before each start of one (the supervisor's prestart), so a node that joins after the
 *   change starts with it: a control-plane node reads the record from its own datastore, a
 *   worker asks a cluster agent (its kubelet certificate as the proof of who asks);
 * - on a worker, every few seconds from its API-server proxy (the one process of ours that runs
 *   there for as long as the worker does), restarting what changed: a worker has no agent a
 *   `configure` roll could reach.
 * Only the recorded flags are touched; the rest of the args file stays the node's own.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../lib/log.js';
import type { Paths } from '../../lib/paths.js';
import { editArgsFile } from '../../node/args-file.js';
import { writeFileAtomic } from '../../node/atomic-write.js';
import { currentNodeRecord } from '../../node/record.js';
import { serviceArgsFile } from '../../services/catalog.js';
import { restartService } from '../../services/restart.js';
import {
  type ClusterArgs,
  type FollowedService,
  parseServiceArgsRecord,
  readClusterArgs,
  WORKER_FOLLOWED,
} from '../cluster-args.js';
import { parseKubeconfig } from '../pki/kubeconfig.js';
import { AgentClient } from './client.js';
import { agentContext, readDatastoreConfig } from './context.js';
import { etcdSocketPath } from './datastore-args.js';
import { API_PREFIX } from './protocol.js';
import { agentEndpoints } from './renew.js';

const log = createLogger('cluster.args-follow');

export const FOLLOW_LIMITS = {
  /** How often a worker's proxy asks for the record. */
  everyMs: 10_000,
  /** One agent's answer; a start is never held longer than this per agent. */
  requestTimeoutMs: 5_000,
  /**
   * A control-plane node's own datastore may not answer yet when its first services start (a
   * node that just joined catches up first): its reads are retried this long, a pause between.
   */
  localReadWaitMs: 60_000,
  localReadPauseMs: 1_000,
} as const;

/** A worker asks the agents it knows, in order, until one answers. */
async function fetchFromAgent(paths: Paths): Promise<ClusterArgs> {
  const ctx = agentContext(paths);
  const file = ctx.certs.kubeconfigs.kubelet;
  const kubelet = parseKubeconfig(await readFile(file, 'utf8'), file);
  let lastError: unknown;
  for (const endpoint of await agentEndpoints(ctx)) {
    const client = new AgentClient({
      ...endpoint,
      ca: kubelet.caPem,
      clientCert: { cert: kubelet.certPem, key: kubelet.keyPem },
      skipVerify: false,
      connectTimeoutMs: FOLLOW_LIMITS.requestTimeoutMs,
      responseTimeoutMs: FOLLOW_LIMITS.requestTimeoutMs,
    });
    try {
      const answer = await client.request<{ args: Record<string, unknown> }>(
        'GET',
        `${API_PREFIX}/cluster-args`,
      );
      const out: ClusterArgs = {};
      for (const service of WORKER_FOLLOWED) {
        const value = answer.args?.[service];
        if (value !== undefined)
          out[service] = parseServiceArgsRecord(value, `the agent's ${service} record`);
      }
      return out;
    } catch (error) {
      lastError = error;
    } finally {
      await client.close();
    }
  }
  throw lastError instanceof Error ? lastError : new Error('no cluster agent answered');
}

/** The record as this node can read it: its own datastore, or (a worker) an agent. */
export async function fetchClusterArgs(paths: Paths): Promise<ClusterArgs> {
  if (currentNodeRecord(paths).kind === 'worker') return fetchFromAgent(paths);
  const config = readDatastoreConfig(agentContext(paths));
  return readClusterArgs(config.clientUnix ?? etcdSocketPath(config.dataDir));
}

/** Where this node notes the record revision it last applied to a service's args file. */
function appliedFile(paths: Paths, service: FollowedService): string {
  return join(paths.data, 'cluster-args', `${service}.applied`);
}

/**
 * Writes the recorded flags into the service's args file, once per record revision; true when
 * the file changed. Once: a roll records its change before it restarts anything, and a node
 * whose restart failed gets its previous args back from the roll; applying the same revision
 * again at that restart would put the failing change back.
 */
export async function applyServiceRecord(
  paths: Paths,
  service: FollowedService,
  args: ClusterArgs,
): Promise<boolean> {
  const record = args[service];
  if (record === undefined) return false;
  // The cluster's id too: a node that left and joined another cluster starts counting anew.
  const mark =
    record.revision === undefined ? undefined : `${currentNodeRecord(paths).clusterId}:${record.revision}`;
  const noted = await readFile(appliedFile(paths, service), 'utf8').catch(() => undefined);
  if (mark !== undefined && noted?.trim() === mark) return false;
  const edit = await editArgsFile(serviceArgsFile(paths, service), {
    set: record.set,
    remove: record.remove,
  });
  if (edit.changed) log.info('followed the cluster args', { service, set: edit.set, removed: edit.removed });
  if (mark !== undefined) {
    await mkdir(dirname(appliedFile(paths, service)), { recursive: true });
    await writeFileAtomic(appliedFile(paths, service), `${mark}\n`);
  }
  return edit.changed;
}

/**
 * Before the service starts: the record applied to its args file. Returns warnings (the
 * supervisor logs them); a record that cannot be read leaves the file as it is.
 */
export async function followBeforeStart(paths: Paths, service: FollowedService): Promise<string[]> {
  const worker = currentNodeRecord(paths).kind === 'worker';
  const deadline = Date.now() + (worker ? 0 : FOLLOW_LIMITS.localReadWaitMs);
  for (;;) {
    try {
      await applyServiceRecord(paths, service, await fetchClusterArgs(paths));
      return [];
    } catch (error) {
      if (Date.now() >= deadline)
        return [
          `the cluster args of ${service} could not be read; started on this node's own: ${(error as Error).message}`,
        ];
      await sleep(FOLLOW_LIMITS.localReadPauseMs);
    }
  }
}

/** A worker's periodic round: the record applied, each service whose file changed restarted. */
export async function followRound(paths: Paths): Promise<FollowedService[]> {
  const args = await fetchClusterArgs(paths);
  const restarted: FollowedService[] = [];
  for (const service of WORKER_FOLLOWED) {
    if (!(await applyServiceRecord(paths, service, args))) continue;
    const outcome = await restartService(paths, service);
    log.info('restarted on the cluster args', { service, outcome: outcome.kind });
    restarted.push(service);
  }
  return restarted;
}
