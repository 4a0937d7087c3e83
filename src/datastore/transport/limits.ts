/** The named, validated limits of the peer transport. */
import { MicroK8sError } from '../../lib/errors.js';
import { checkLimit, KiB, MiB } from '../../lib/limits.js';

export interface TransportLimits {
  /**
   * Largest frame accepted or sent (payload bytes after the 4-byte length). It must hold the
   * largest single Raft message: App messages up to raft maxMsgBytes (1 MiB by default, 64 MiB
   * at most) and snapshot chunks; the default leaves room for a 16 MiB message plus headers.
   */
  readonly maxFrameBytes: number;
  /** Queued messages are coalesced into frames of about this size (fewer syscalls, fair latency). */
  readonly maxBatchBytes: number;
  /** Messages waiting for one peer; beyond it the oldest are dropped. */
  readonly maxQueuedMessagesPerPeer: number;
  /** Encoded bytes waiting for one peer; beyond it the oldest are dropped. */
  readonly maxQueuedBytesPerPeer: number;
  /** First reconnect delay after a failure; doubles per failure (with jitter) up to the max. */
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  /** TCP connect + TLS handshake, and on the listener also the hello frame, must finish in this. */
  readonly handshakeTimeoutMs: number;
  /** A peer that does not drain our writes for this long is cut off and re-dialed. */
  readonly writeStallTimeoutMs: number;
  /** Accepted sockets (authenticated or not) at one time; more are refused by the listener. */
  readonly maxInboundConnections: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  maxFrameBytes: 16 * MiB + 64 * KiB,
  maxBatchBytes: 1 * MiB,
  maxQueuedMessagesPerPeer: 16384,
  maxQueuedBytesPerPeer: 64 * MiB,
  reconnectMinMs: 50,
  reconnectMaxMs: 5000,
  handshakeTimeoutMs: 5000,
  writeStallTimeoutMs: 10000,
  maxInboundConnections: 256,
};

const SPECS: Record<keyof TransportLimits, { min: number; max: number; unit: string }> = {
  maxFrameBytes: { min: 64 * KiB, max: 256 * MiB, unit: 'bytes' },
  maxBatchBytes: { min: 1 * KiB, max: 256 * MiB, unit: 'bytes' },
  maxQueuedMessagesPerPeer: { min: 1, max: 1 << 22, unit: 'messages' },
  maxQueuedBytesPerPeer: { min: 1 * KiB, max: 4096 * MiB, unit: 'bytes' },
  reconnectMinMs: { min: 1, max: 60_000, unit: 'ms' },
  reconnectMaxMs: { min: 1, max: 600_000, unit: 'ms' },
  handshakeTimeoutMs: { min: 50, max: 120_000, unit: 'ms' },
  writeStallTimeoutMs: { min: 50, max: 600_000, unit: 'ms' },
  maxInboundConnections: { min: 1, max: 65536, unit: 'connections' },
};

export function validateTransportLimits(overrides: Partial<TransportLimits> = {}): TransportLimits {
  const limits = { ...DEFAULT_TRANSPORT_LIMITS, ...overrides };
  for (const key of Object.keys(SPECS) as (keyof TransportLimits)[]) {
    checkLimit({ name: `transport.${key}`, ...SPECS[key] }, limits[key]);
  }
  if (limits.reconnectMaxMs < limits.reconnectMinMs) {
    throw new MicroK8sError(
      'MK_INVALID_CONFIG',
      'transport.reconnectMaxMs must be >= transport.reconnectMinMs',
      {
        limit: 'transport.reconnectMaxMs',
        value: limits.reconnectMaxMs,
      },
    );
  }
  if (limits.maxBatchBytes > limits.maxFrameBytes) {
    throw new MicroK8sError(
      'MK_INVALID_CONFIG',
      'transport.maxBatchBytes must be <= transport.maxFrameBytes',
      {
        limit: 'transport.maxBatchBytes',
        value: limits.maxBatchBytes,
      },
    );
  }
  return limits;
}
