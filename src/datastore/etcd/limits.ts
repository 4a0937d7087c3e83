/** The named, validated limits of the etcd API server. Defaults are etcd's where etcd has one. */
import { MicroK8sError } from '../../lib/errors.js';
import { checkLimit, KiB, MiB } from '../../lib/limits.js';

export interface EtcdServerLimits {
  /** Largest write request (etcd --max-request-bytes); larger: "etcdserver: request is too large". */
  readonly maxRequestBytes: number;
  /** gRPC framing slack on top of maxRequestBytes; a message beyond both is RESOURCE_EXHAUSTED. */
  readonly grpcOverheadBytes: number;
  /** Most operations in one txn level (etcd --max-txn-ops). */
  readonly maxTxnOps: number;
  /** Period of progress notifications to watchers that asked for them (etcd: 10 minutes). */
  readonly progressNotifyIntervalMs: number;
  /** Events read from history per step of a watch replay. */
  readonly watchReplayEvents: number;
  /** A watch response closes at a revision boundary once it holds this many bytes. */
  readonly watchResponseBytes: number;
  /** Live events buffered per watcher while it replays history; beyond, it re-reads history. */
  readonly watchBufferEvents: number;
  /**
   * Bytes queued on a watch stream for a slow client before its watchers fall back to history
   * (which costs the server nothing while the client catches up). 8 MiB holds a few of the
   * largest revisions (maxRequestBytes, twice with prev_kv); etcd itself buffers 128 responses.
   */
  readonly watchQueueBytes: number;
  /** Smallest lease TTL granted, in seconds (etcd: 1.5 election timeouts, rounded up). */
  readonly minLeaseTtlSeconds: number;
  /** Largest lease TTL accepted, in seconds (etcd's MaxLeaseTTL). */
  readonly maxLeaseTtlSeconds: number;
  /** Server keepalive ping period on idle connections (etcd --grpc-keepalive-interval). */
  readonly keepaliveTimeMs: number;
  /** Time to wait for a keepalive ping answer (etcd --grpc-keepalive-timeout). */
  readonly keepaliveTimeoutMs: number;
  /** How often the server checks that the cluster has a leader (etcd: one election timeout). */
  readonly leaderCheckIntervalMs: number;
  /**
   * Consecutive leaderless checks after which streams opened with clientv3's require-leader
   * ("hasleader") are ended with "etcdserver: no leader", so clients move to another member.
   */
  readonly leaderlessChecks: number;
  /** Grace period for in-flight calls on stop. */
  readonly stopGraceMs: number;
  /** Largest HTTP/2 header block accepted from a client (the :authority rewrite buffers blocks). */
  readonly maxHeaderBlockBytes: number;
  /**
   * Open client connections on the TCP port (TLS or loopback), handshaking or not; the unix
   * socket has none (its file mode guards it). A kube-apiserver opens a few, etcdctl one.
   */
  readonly maxClientConnections: number;
  /** Open client connections from one source address. */
  readonly maxClientConnectionsPerSource: number;
  /** A TLS handshake on the TCP port must finish in this (Node's default is 120 s). */
  readonly tlsHandshakeTimeoutMs: number;
  /** Watchers on one Watch stream; one more is RESOURCE_EXHAUSTED and ends the stream. */
  readonly maxWatchersPerStream: number;
  /** Watchers over all the streams of one connection; beyond, as above. */
  readonly maxWatchersPerConnection: number;
  /**
   * Bytes queued on a watch stream whose client does not read, past which the stream is cut off
   * (RESOURCE_EXHAUSTED). Above watchQueueBytes, where live events already stop being queued, so
   * only a client that stopped reading and keeps sending requests gets there.
   */
  readonly watchStreamMaxQueuedBytes: number;
}

export const DEFAULT_ETCD_LIMITS: EtcdServerLimits = {
  maxRequestBytes: 1.5 * MiB,
  grpcOverheadBytes: 512 * KiB,
  maxTxnOps: 128,
  progressNotifyIntervalMs: 10 * 60 * 1000,
  watchReplayEvents: 1000,
  watchResponseBytes: 1 * MiB,
  watchBufferEvents: 10_000,
  watchQueueBytes: 8 * MiB,
  minLeaseTtlSeconds: 2,
  maxLeaseTtlSeconds: 9_000_000_000,
  keepaliveTimeMs: 2 * 60 * 60 * 1000,
  keepaliveTimeoutMs: 20 * 1000,
  leaderCheckIntervalMs: 1000,
  leaderlessChecks: 3,
  stopGraceMs: 2000,
  maxHeaderBlockBytes: 1 * MiB,
  maxClientConnections: 1024,
  maxClientConnectionsPerSource: 128,
  tlsHandshakeTimeoutMs: 10_000,
  maxWatchersPerStream: 4096,
  maxWatchersPerConnection: 8192,
  watchStreamMaxQueuedBytes: 16 * MiB,
};

const SPECS: Record<keyof EtcdServerLimits, { min: number; max: number; unit: string }> = {
  maxRequestBytes: { min: 1 * KiB, max: 64 * MiB, unit: 'bytes' },
  grpcOverheadBytes: { min: 0, max: 16 * MiB, unit: 'bytes' },
  maxTxnOps: { min: 1, max: 1 << 16, unit: 'operations' },
  progressNotifyIntervalMs: { min: 10, max: 24 * 60 * 60 * 1000, unit: 'ms' },
  watchReplayEvents: { min: 1, max: 1 << 20, unit: 'events' },
  watchResponseBytes: { min: 1 * KiB, max: 64 * MiB, unit: 'bytes' },
  watchBufferEvents: { min: 1, max: 1 << 24, unit: 'events' },
  watchQueueBytes: { min: 64 * KiB, max: 4096 * MiB, unit: 'bytes' },
  minLeaseTtlSeconds: { min: 1, max: 3600, unit: 's' },
  maxLeaseTtlSeconds: { min: 1, max: 9_000_000_000, unit: 's' },
  keepaliveTimeMs: { min: 1000, max: 24 * 60 * 60 * 1000, unit: 'ms' },
  keepaliveTimeoutMs: { min: 100, max: 10 * 60 * 1000, unit: 'ms' },
  leaderCheckIntervalMs: { min: 10, max: 60 * 1000, unit: 'ms' },
  leaderlessChecks: { min: 1, max: 1000, unit: 'checks' },
  stopGraceMs: { min: 0, max: 60 * 1000, unit: 'ms' },
  maxHeaderBlockBytes: { min: 16 * KiB, max: 64 * MiB, unit: 'bytes' },
  maxClientConnections: { min: 1, max: 65536, unit: 'connections' },
  maxClientConnectionsPerSource: { min: 1, max: 65536, unit: 'connections' },
  tlsHandshakeTimeoutMs: { min: 100, max: 120_000, unit: 'ms' },
  maxWatchersPerStream: { min: 1, max: 1 << 20, unit: 'watchers' },
  maxWatchersPerConnection: { min: 1, max: 1 << 20, unit: 'watchers' },
  watchStreamMaxQueuedBytes: { min: 64 * KiB, max: 4096 * MiB, unit: 'bytes' },
};

export function validateEtcdLimits(overrides: Partial<EtcdServerLimits> = {}): EtcdServerLimits {
  const limits = { ...DEFAULT_ETCD_LIMITS, ...overrides };
  for (const key of Object.keys(SPECS) as (keyof EtcdServerLimits)[]) {
    checkLimit({ name: `etcd.${key}`, ...SPECS[key] }, limits[key]);
  }
  if (limits.watchStreamMaxQueuedBytes <= limits.watchQueueBytes) {
    throw new MicroK8sError(
      'MK_INVALID_CONFIG',
      'etcd.watchStreamMaxQueuedBytes must be > etcd.watchQueueBytes',
      {
        limit: 'etcd.watchStreamMaxQueuedBytes',
        value: limits.watchStreamMaxQueuedBytes,
      },
    );
  }
  return limits;
}
