/**
 * What the etcd API layer needs from a datastore node. The replicated node driver implements it;
 * the tests use a single-node one over the state machine.
 *
 * Errors are MicroK8sError codes (MK_NO_LEADER, MK_TIMEOUT, MK_STOPPED, MK_LIMIT_EXCEEDED,
 * MK_COMPACTED, MK_FUTURE_REVISION, MK_LEASE_NOT_FOUND, MK_INVALID_ARGUMENT) with etcd's message
 * where etcd has one; the server maps them to etcd's gRPC status and message.
 *
 * Watch delivery contract, which the watch layer relies on for its gap-free, duplicate-free
 * handoff from history to live events: a revision is in `history` as soon as `revision()` covers
 * it, and `subscribe` listeners get every revision applied after they subscribed, in order.
 */
import type { ApplyResult, Command, RangeRequest, RangeResponse, RevisionEvents } from '../state/types.js';

export interface EtcdHeaderInfo {
  clusterId: bigint;
  memberId: bigint;
  revision: number;
  raftTerm: number;
}

export interface EtcdMember {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export interface EtcdStatus {
  version: string;
  dbSize: number;
  dbSizeInUse: number;
  leader: bigint;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  isLearner: boolean;
  errors: string[];
}

export interface EtcdBackend {
  header(): EtcdHeaderInfo;
  /** linearizable=true goes through ReadIndex (may reject with MK_NO_LEADER / MK_TIMEOUT); false = local serializable read */
  range(req: RangeRequest, linearizable: boolean): Promise<RangeResponse>;
  /** Propose through Raft; resolves with this node's own apply result once applied locally. */
  execute(cmd: Command): Promise<ApplyResult>;
  /** Revision-ordered events from the local apply path (no polling). */
  subscribe(listener: (batch: RevisionEvents) => void): () => void;
  history(
    fromRevision: number,
    key: Uint8Array,
    rangeEnd: Uint8Array | undefined,
    limit: number,
  ): { events: RevisionEvents[]; more: boolean };
  /** Local applied store revision. */
  revision(): number;
  compactRevision(): number;
  /** Ask for progress: resolves with a revision such that every event up to it has been delivered through subscribe (used for RequestProgress / progress_notify; never ahead of events). */
  progressRevision(): Promise<number>;
  leaseGrant(ttl: number, id: number /* 0 = server chooses */): Promise<{ id: number; ttl: number }>;
  leaseRevoke(id: number): Promise<void>;
  /** MK_LEASE_NOT_FOUND if unknown. */
  leaseKeepAlive(id: number): Promise<number /* ttl */>;
  /** ttl -1 if expired/not found, like etcd. */
  leaseTimeToLive(
    id: number,
    keys: boolean,
  ): Promise<{ ttl: number; grantedTtl: number; keys: Uint8Array[] }>;
  leases(): number[];
  status(): EtcdStatus;
  /**
   * etcd's HashKV of this member's store up to `revision` (0: current); comparable across members.
   * Runs in slices (the event loop stays free); one at a time per member.
   */
  hashKV(revision: number): Promise<{ hash: number; compactRevision: number; hashRevision: number }>;
  /** Give free pages of the database back to the file system. */
  defragment(): Promise<void>;
  /** Raised alarms (NOSPACE when the database is over its quota). */
  alarms(): { memberId: bigint; alarm: 'NOSPACE' }[];
  /** Clear the alarms; a write over the quota raises NOSPACE again. */
  disarm(): void;
  members(): EtcdMember[];
}
