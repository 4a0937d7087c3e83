/**
 * The refresh hooks. pre-refresh (old revision, before snapd stops anything): the node must be
 * healthy, its going away must not cost the datastore its quorum, and no other node may be
 * refreshing; it then takes the cluster-wide refresh lease, backs the keyspace up and, if it
 * leads, hands leadership to a caught-up voter (refresh-drain.ts). A refusal
 * fails the hook, and snapd retries the refresh later. A stopped node (`microk8s stop`: its
 * daemons disabled) is not counted on by anyone and refreshes without the lease.
 * post-refresh (new revision, after snapd copied SNAP_DATA): the migrations (all or none), the
 * node's enabled daemons started on the new revision (snapd starts services after this hook;
 * starting them here lets the hook see the node serve before it gives the lease back), health,
 * and the lease given back. A node that does not come back healthy keeps the lease (it
 * expires) so that no other node goes down meanwhile.
 */

import { snapServices } from '../cluster/kubernetes/lifecycle.js';
import { type ClusterStatus, defaultDatastoreDir, readClusterStatus } from '../cluster/status.js';
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { versionInfo } from '../lib/version.js';
import { currentNodeRecord } from '../node/record.js';
import type { ServiceName } from '../services/catalog.js';
import { startService } from '../services/restart.js';
import { backupKeyspace, type KeyspaceBackup } from './backup.js';
import { nodeEtcdSocket, runsOwnDatastore } from './datastore-socket.js';
import { type MigrationRun, runMigrations } from './migrations.js';
import { type DrainResult, handLeadershipOver } from './refresh-drain.js';
import { releaseRefreshLease, takeRefreshLease } from './refresh-lease.js';
import { snapServiceStates } from './snapctl.js';

export const REFRESH_LIMITS = {
  /** pre-refresh: how long the node may take to answer with a known leader. */
  healthTimeoutS: 10,
  /** post-refresh: how long the restarted node may take to serve again. */
  readyTimeoutS: 300,
} as const;

/** The name this node holds the lease under: unique in its cluster. */
export function leaseName(paths: Paths): string {
  const record = currentNodeRecord(paths);
  return `${record.clusterId ?? 'cluster'}/${record.memberId ?? record.address ?? 'node'}`;
}

/**
 * Pure: why this node's refresh would cost quorum, or undefined when it would not. A voter that
 * goes down leaves the other voters; those must still be a majority of all voters. Online is
 * known on the leader only; elsewhere the voters are taken as online (the lease keeps the
 * refreshes apart, and the leader's own pre-refresh sees the truth).
 */
export function quorumCost(status: ClusterStatus): string | undefined {
  const { voters } = status.datastore;
  const self = voters.find((v) => v.self);
  if (self === undefined || voters.length === 1) return undefined;
  const majority = Math.floor(voters.length / 2) + 1;
  const othersUp = voters.filter((v) => !v.self && v.online !== false).length;
  if (othersUp >= majority) return undefined;
  return `${othersUp} of the other ${voters.length - 1} voters are online; ${majority} of ${voters.length} must stay up`;
}

async function datastoreStatus(paths: Paths, waitReady: boolean, timeoutS: number): Promise<ClusterStatus> {
  const status = await readClusterStatus({ paths, waitReady, timeoutS });
  if (!('datastore' in status))
    throw new MicroK8sError('MK_INTERNAL', 'a node with its own datastore has no datastore status');
  return status as ClusterStatus;
}

/** The node's daemons that are enabled (the node is started), by service name. */
async function enabledServices(paths: Paths): Promise<ServiceName[]> {
  const states = await snapServiceStates();
  const snap = process.env.SNAP_INSTANCE_NAME || process.env.SNAP_NAME || 'microk8s';
  return snapServices(paths).filter((name) => states.get(`${snap}.daemon-${name}`)?.enabled === true);
}

export type PreRefreshResult =
  | { readonly kind: 'no-datastore' | 'stopped'; readonly reason: string }
  | {
      readonly kind: 'ready';
      readonly lease: string;
      readonly again: boolean;
      readonly backup: KeyspaceBackup;
      /** Whether this node led and handed leadership over. */
      readonly drain: DrainResult;
    };

export async function preRefresh(paths: Paths): Promise<PreRefreshResult> {
  if (!runsOwnDatastore(paths)) {
    return { kind: 'no-datastore', reason: 'this node runs no datastore of its own: no quorum to keep' };
  }
  if (!(await enabledServices(paths)).includes('datastore')) {
    return { kind: 'stopped', reason: 'the node is stopped: the cluster does not count on it' };
  }
  const status = await datastoreStatus(paths, false, REFRESH_LIMITS.healthTimeoutS).catch(
    (error: unknown) => {
      throw new MicroK8sError(
        'MK_REFRESH_REFUSED',
        `the node is not healthy: ${(error as Error).message}`,
        {},
        { cause: error },
      );
    },
  );
  if (!status.ready) throw new MicroK8sError('MK_REFRESH_REFUSED', 'the datastore has no leader now');
  const cost = quorumCost(status);
  if (cost)
    throw new MicroK8sError('MK_REFRESH_REFUSED', `refreshing this node now would cost quorum: ${cost}`);
  const socket = nodeEtcdSocket(paths);
  const name = leaseName(paths);
  // The lease before the backup: a node that must wait anyway does not copy the keyspace first.
  const taken = await takeRefreshLease(socket, name, versionInfo().revision);
  try {
    const backup = await backupKeyspace(paths, socket, `pre-refresh-r${versionInfo().revision}`);
    // Last: once it no longer leads, snapd's stop costs the writers no election.
    const drain = await handLeadershipOver(defaultDatastoreDir(paths));
    return { kind: 'ready', lease: name, again: taken.again, backup, drain };
  } catch (error) {
    await releaseRefreshLease(socket, name);
    throw error;
  }
}

export interface PostRefreshResult {
  readonly migrations: MigrationRun;
  readonly started: ServiceName[];
  readonly leaseReleased: boolean;
}

export async function postRefresh(paths: Paths): Promise<PostRefreshResult> {
  const migrations = await runMigrations(paths);
  const started = await enabledServices(paths);
  for (const service of started) await startService(paths, service);
  if (!runsOwnDatastore(paths) || !started.includes('datastore'))
    return { migrations, started, leaseReleased: false };
  const status = await datastoreStatus(paths, true, REFRESH_LIMITS.readyTimeoutS);
  if (!status.ready)
    throw new MicroK8sError(
      'MK_NOT_RUNNING',
      'the node did not serve again after the refresh; the refresh lease stays until it expires',
    );
  const leaseReleased = await releaseRefreshLease(nodeEtcdSocket(paths), leaseName(paths));
  return { migrations, started, leaseReleased };
}
