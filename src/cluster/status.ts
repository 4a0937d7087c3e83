/**
 * `microk8s status`: is this node running, is the cluster highly available, which members hold
 * which datastore role, and where. It shows this node's own view (GET /status on its admin
 * socket): only the leader knows which members are online, so on a follower that part is
 * reported as unknown and the leader is named, rather than guessed.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NodeStatusReport } from '../datastore/node/driver.js';
import type { MemberReport } from '../datastore/node/roles-agent.js';
import { MicroK8sError } from '../lib/errors.js';
import { checkLimit } from '../lib/limits.js';
import { createLogger } from '../lib/log.js';
import type { Paths } from '../lib/paths.js';
import { readNodeStatus, type ServiceState } from '../services/status.js';
import { etcdSocketPath } from './agent/datastore-args.js';
import { type ExternalDatastoreStatus, externalDatastoreStatus } from './kubernetes/external-status.js';
import {
  type KubernetesHealth,
  kubernetesHealth,
  kubernetesServes,
  runsKubernetes,
} from './kubernetes/health.js';
import { usesEmbeddedDatastore } from './kubernetes/node-daemons.js';
import { fetchNodeReport } from './status-admin.js';
import { type MemberAddress, readArgsFacts } from './status-peers.js';
import { isWorkerNode, type WorkerStatus, workerStatus } from './status-worker.js';
import { listWorkers, type WorkerRecord } from './workers/registry.js';

const log = createLogger('cluster.status');

export const STATUS_LIMITS = {
  /** One request to the admin socket. */
  requestTimeoutMs: 2_000,
  /** Between two polls of --wait-ready. */
  pollMs: 250,
  /** --timeout bounds, in seconds; --wait-ready never waits forever. */
  timeout: { name: '--timeout', min: 1, max: 3_600, unit: 's' },
  defaultTimeoutS: 60,
  /** The voters from which the cluster survives the loss of one. */
  haVoters: 3,
} as const;

export interface MemberStatus {
  readonly id: number;
  readonly role: MemberReport['role'];
  /** HOST:PORT of its peer listener, when the args file names it. */
  readonly address?: string;
  readonly clientUrl?: string;
  readonly failureDomain: string;
  readonly weight: number;
  readonly leader: boolean;
  readonly self: boolean;
  readonly draining: boolean;
  /** An operator asked for its removal ('if-offline' or 'force'); 'no' otherwise. */
  readonly removal: MemberReport['removal'];
  /** Known on the leader only. */
  readonly online?: boolean;
  readonly offlineMs?: number;
  readonly dead?: boolean;
}

export interface ClusterStatus {
  readonly running: true;
  /** The node answers and knows a leader. */
  readonly ready: boolean;
  readonly highAvailability: boolean;
  readonly datastore: {
    readonly dir: string;
    readonly node: { id: number; name: string; role: string; state: string; term: number };
    /** 0 while electing or cut off from a majority. */
    readonly leader: { id: number; address?: string; self: boolean } | null;
    readonly voters: MemberStatus[];
    readonly standbys: MemberStatus[];
    readonly spares: MemberStatus[];
    /** Offline and dead members: null when this node is not the leader (it cannot know). */
    readonly offline: MemberStatus[] | null;
    readonly dead: MemberStatus[] | null;
  };
  /** Worker nodes the cluster admitted (no datastore of their own); empty when unknown. */
  readonly workers: readonly WorkerRecord[];
  /** Filled by the status command from the addons layer (available: the cluster answered). */
  readonly addons: { readonly available: boolean; readonly enabled: string[]; readonly disabled: string[] };
  readonly services: ServiceState[];
  /** On a node that runs Kubernetes: the API server's /readyz and this node's Ready condition. */
  readonly kubernetes?: KubernetesHealth;
}

/** Pure: what status shows, from the node's report and the members' addresses. */
export function summarizeReport(
  report: NodeStatusReport,
  addresses: ReadonlyMap<number, MemberAddress>,
  dir: string,
  services: ServiceState[],
): ClusterStatus {
  const isLeader = report.state === 'leader';
  const members = report.members.map((m): MemberStatus => {
    const address = addresses.get(m.id);
    // The replicated member table is current (a join after this node's, a moved node); the args
    // file only names the members this node knew when it was set up.
    const peer = m.peerAddress ?? address?.peer;
    return {
      id: m.id,
      role: m.role,
      ...(peer ? { address: peer } : {}),
      ...(address?.clientUrl ? { clientUrl: address.clientUrl } : {}),
      failureDomain: m.failureDomain,
      weight: m.weight,
      leader: m.id === report.leader,
      self: m.id === report.id,
      draining: m.draining,
      removal: m.removal,
      ...(m.online !== undefined ? { online: m.online } : {}),
      ...(m.offlineMs !== undefined ? { offlineMs: m.offlineMs } : {}),
      ...(m.dead !== undefined ? { dead: m.dead } : {}),
    };
  });
  const byRole = (role: MemberReport['role']) => members.filter((m) => m.role === role);
  const voters = byRole('voter');
  const leaderAddress = members.find((m) => m.id === report.leader)?.address;
  return {
    running: true,
    ready: report.leader !== 0,
    highAvailability: voters.length >= STATUS_LIMITS.haVoters,
    datastore: {
      dir,
      node: { id: report.id, name: report.name, role: report.role, state: report.state, term: report.term },
      leader:
        report.leader === 0
          ? null
          : { id: report.leader, ...(leaderAddress ? { address: leaderAddress } : {}), self: isLeader },
      voters,
      standbys: byRole('standby'),
      spares: byRole('spare'),
      offline: isLeader ? members.filter((m) => m.online === false && !m.dead) : null,
      dead: isLeader ? members.filter((m) => m.dead === true) : null,
    },
    workers: [],
    addons: { available: false, enabled: [], disabled: [] },
    services,
  };
}

/**
 * Where this node's datastore keeps its files: the --data-dir of its args file when the operator
 * set one there (that is where the daemon put its admin socket), else the default under
 * SNAP_COMMON (outside a snap, under MICROK8S_HOME).
 */
export function defaultDatastoreDir(paths: Paths): string {
  return readArgsFacts([join(paths.args, 'datastore')]).dataDir ?? paths.datastore;
}

/** The args files that may name the members: the node's own folder, then $SNAP_DATA/args. */
function argsFiles(paths: Paths, dir: string): string[] {
  return [join(dir, 'args'), join(paths.args, 'datastore')];
}

/** The node's own etcd socket: its --client-unix, else the one in its data folder. */
export function localEtcdSocket(paths: Paths, dir: string): string {
  return readArgsFacts(argsFiles(paths, dir)).clientUnix ?? etcdSocketPath(dir);
}

export interface StatusOptions {
  readonly paths: Paths;
  /** The datastore's data folder (default: defaultDatastoreDir). */
  readonly datastoreDir?: string;
  /** Poll until the node answers and knows a leader, for at most timeoutS seconds. */
  readonly waitReady?: boolean;
  readonly timeoutS?: number;
}

/** This node's status; MK_NOT_RUNNING when its datastore does not answer (MK_NO_LEADER after a wait). */
export async function readClusterStatus(
  options: StatusOptions,
): Promise<ClusterStatus | WorkerStatus | ExternalDatastoreStatus> {
  const dir = options.datastoreDir ?? defaultDatastoreDir(options.paths);
  const timeoutS = checkLimit(STATUS_LIMITS.timeout, options.timeoutS ?? STATUS_LIMITS.defaultTimeoutS);
  const deadline = Date.now() + timeoutS * 1000;
  // A worker has no datastore: its API-server proxy is what runs (see status-worker.ts).
  if (options.datastoreDir === undefined && isWorkerNode(options.paths)) {
    return workerStatus(options.paths, options.waitReady === true, deadline, STATUS_LIMITS.pollMs);
  }
  // kube-apiserver on an external etcd: no datastore of ours to ask (see external-status.ts).
  if (options.datastoreDir === undefined && !usesEmbeddedDatastore(options.paths)) {
    return externalDatastoreStatus(options.paths, options.waitReady === true, deadline, STATUS_LIMITS.pollMs);
  }
  for (;;) {
    const remaining = deadline - Date.now();
    const result = await fetchNodeReport(
      dir,
      Math.max(1, Math.min(STATUS_LIMITS.requestTimeoutMs, remaining)),
    );
    const datastoreReady = result.report !== undefined && result.report.leader !== 0;
    // Running, on a node that runs Kubernetes, also means /readyz answers and the node is Ready.
    const kubernetes =
      datastoreReady && runsKubernetes(options.paths) ? await kubernetesHealth(options.paths) : undefined;
    const ready = datastoreReady && (kubernetes === undefined || kubernetesServes(kubernetes));
    const waiting = options.waitReady === true && !ready && Date.now() + STATUS_LIMITS.pollMs < deadline;
    if (waiting) {
      await sleep(STATUS_LIMITS.pollMs);
      continue;
    }
    const services = readNodeStatus(options.paths).services;
    if (result.report === undefined) {
      const waited = options.waitReady ? ` after waiting ${timeoutS} s` : '';
      throw new MicroK8sError('MK_NOT_RUNNING', `microk8s is not running${waited}: ${result.reason}`, {
        datastoreDir: dir,
        services,
      });
    }
    if (options.waitReady && datastoreReady && !ready) {
      throw new MicroK8sError(
        'MK_NOT_READY',
        `microk8s is running but Kubernetes is not ready after waiting ${timeoutS} s: ${
          kubernetes?.apiServerReady
            ? `the node is ${kubernetes.node ? 'not Ready' : 'not registered'}`
            : 'the API server does not answer /readyz'
        }`,
        { datastoreDir: dir },
      );
    }
    if (options.waitReady && !ready) {
      throw new MicroK8sError(
        'MK_NO_LEADER',
        `microk8s is running but its datastore has no leader after waiting ${timeoutS} s (electing, or cut off from a majority of voters)`,
        { datastoreDir: dir },
      );
    }
    const facts = readArgsFacts(argsFiles(options.paths, dir));
    const summary = summarizeReport(result.report, facts.addresses, dir, services);
    // The registry is read through the datastore (a linearizable read): with no leader it is unknown.
    const workers = ready
      ? await listWorkers(facts.clientUnix ?? etcdSocketPath(dir)).catch((error: unknown) => {
          log.debug('the worker list could not be read', { error });
          return [];
        })
      : [];
    return { ...summary, ready, workers, ...(kubernetes ? { kubernetes } : {}) };
  }
}
