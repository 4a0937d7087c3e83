/** Maintenance.Status and Alarm, Cluster.MemberList and grpc.health.v1.Health. */
import { isMicroK8sError } from '../../lib/errors.js';
import type { EtcdBackend } from './backend.js';
import { headerOut } from './convert.js';
import { ETCD_ERRORS, EtcdApiError } from './errors.js';
import type { OutHeader, OutInt64, WireAlarmRequest } from './proto.js';

/** The oldest etcd version we claim: kube-apiserver enables its watch progress features from 3.5.13. */
export const MIN_REPORTED_VERSION = '3.5.13';

/** Health status values of grpc.health.v1.HealthCheckResponse.ServingStatus. */
export const SERVING = 1;
export const NOT_SERVING = 2;

/** Services a health check may name; "" is the server as a whole. */
export const HEALTH_SERVICES = new Set([
  '',
  'etcdserverpb.KV',
  'etcdserverpb.Watch',
  'etcdserverpb.Lease',
  'etcdserverpb.Cluster',
  'etcdserverpb.Maintenance',
]);

function versionAtLeast(version: string, minimum: string): boolean {
  const a = version.split('.').map((p) => Number.parseInt(p, 10));
  const b = minimum.split('.').map((p) => Number.parseInt(p, 10));
  for (let i = 0; i < 3; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (Number.isNaN(x)) return false;
    if (x !== y) return x > y;
  }
  return true;
}

/**
 * A HashKV or Defragment refused because one is running (MK_LIMIT_EXCEEDED): etcd's "too many
 * requests" status with the reason after it, so the client sees which limit it hit.
 */
async function busy<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (!isMicroK8sError(error, 'MK_LIMIT_EXCEEDED')) throw error;
    throw new EtcdApiError({
      code: ETCD_ERRORS.tooManyRequests.code,
      message: `${ETCD_ERRORS.tooManyRequests.message}: ${error.message}`,
    });
  }
}

export class MaintenanceService {
  constructor(private readonly backend: EtcdBackend) {}

  status(): {
    header: OutHeader;
    version: string;
    dbSize: OutInt64;
    leader: OutInt64;
    raftIndex: OutInt64;
    raftTerm: OutInt64;
    raftAppliedIndex: OutInt64;
    errors: string[];
    dbSizeInUse: OutInt64;
    isLearner: boolean;
  } {
    const s = this.backend.status();
    return {
      header: headerOut(this.backend.header()),
      version: versionAtLeast(s.version, MIN_REPORTED_VERSION) ? s.version : MIN_REPORTED_VERSION,
      dbSize: s.dbSize,
      leader: s.leader.toString(),
      raftIndex: s.raftIndex,
      raftTerm: s.raftTerm,
      raftAppliedIndex: s.raftAppliedIndex,
      errors: s.errors,
      dbSizeInUse: s.dbSizeInUse,
      isLearner: s.isLearner,
    };
  }

  /**
   * GET lists the alarms; DEACTIVATE clears them (NOSPACE comes back if the database is still over
   * its quota at the next write); ACTIVATE is accepted and changes nothing (only the node raises
   * NOSPACE; corruption stops the node instead of raising CORRUPT).
   */
  alarm(req: WireAlarmRequest): { header: OutHeader; alarms: { memberID: string; alarm: number }[] } {
    if (Number(req.action ?? 0) === 2) this.backend.disarm();
    const alarms = this.backend.alarms().map((a) => ({ memberID: a.memberId.toString(), alarm: 1 }));
    return { header: headerOut(this.backend.header()), alarms };
  }

  async hashKV(req: { revision?: string | number }): Promise<{
    header: OutHeader;
    hash: number;
    compact_revision: string;
    hash_revision: string;
  }> {
    const revision = Number(req.revision ?? 0);
    const r = await busy(this.backend.hashKV(Number.isFinite(revision) && revision > 0 ? revision : 0));
    return {
      header: headerOut(this.backend.header()),
      hash: r.hash,
      compact_revision: String(r.compactRevision),
      hash_revision: String(r.hashRevision),
    };
  }

  async defragment(): Promise<{ header: OutHeader }> {
    await busy(this.backend.defragment());
    return { header: headerOut(this.backend.header()) };
  }

  memberList(): {
    header: OutHeader;
    members: { ID: string; name: string; peerURLs: string[]; clientURLs: string[]; isLearner: boolean }[];
  } {
    return {
      header: headerOut(this.backend.header()),
      members: this.backend.members().map((m) => ({
        ID: m.id.toString(),
        name: m.name,
        peerURLs: m.peerURLs,
        clientURLs: m.clientURLs,
        isLearner: m.isLearner,
      })),
    };
  }
}
