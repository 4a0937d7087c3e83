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
  /** Outbound: TCP connect + TLS handshake must finish in this. */
  readonly handshakeTimeoutMs: number;
  /**
   * Inbound: TLS handshake and hello frame must finish in this. Short, because a socket in its
   * handshake holds a slot: a member on a LAN needs milliseconds, a silent socket gets 3 s.
   */
  readonly inboundHandshakeTimeoutMs: number;
  /** A peer that does not drain our writes for this long is cut off and re-dialed. */
  readonly writeStallTimeoutMs: number;
  /** Accepted sockets (authenticated or not) at one time; more are refused by the listener. */
  readonly maxInboundConnections: number;
  /**
   * Accepted sockets from one source address. A member needs one (two while it re-dials); the
   * cap keeps one address from holding every slot with sockets that never finish a handshake.
   */
  readonly maxInboundPerSource: number;
  /**
   * Slots of maxInboundConnections kept for the members' addresses (the member table's peer
   * hosts): sockets from many other addresses together never take these, so a restarting member
   * always gets back in.
   */
  readonly reservedInboundForMembers: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  maxFrameBytes: 16 * MiB + 64 * KiB,
  maxBatchBytes: 1 * MiB,
  maxQueuedMessagesPerPeer: 16384,
  maxQueuedBytesPerPeer: 64 * MiB,
  reconnectMinMs: 50,
  reconnectMaxMs: 5000,
  handshakeTimeoutMs: 5000,
  inboundHandshakeTimeoutMs: 3000,
  writeStallTimeoutMs: 10000,
  maxInboundConnections: 256,
  maxInboundPerSource: 8,
  reservedInboundForMembers: 64,
};

const SPECS: Record<keyof TransportLimits, { min: number; max: number; unit: string }> = {
  maxFrameBytes: { min: 64 * KiB, max: 256 * MiB, unit: 'bytes' },
  maxBatchBytes: { min: 1 * KiB, max: 256 * MiB, unit: 'bytes' },
  maxQueuedMessagesPerPeer: { min: 1, max: 1 << 22, unit: 'messages' },
  maxQueuedBytesPerPeer: { min: 1 * KiB, max: 4096 * MiB, unit: 'bytes' },
  reconnectMinMs: { min: 1, max: 60_000, unit: 'ms' },
  reconnectMaxMs: { min: 1, max: 600_000, unit: 'ms' },
  handshakeTimeoutMs: { min: 50, max: 120_000, unit: 'ms' },
  inboundHandshakeTimeoutMs: { min: 50, max: 120_000, unit: 'ms' },
  writeStallTimeoutMs: { min: 50, max: 600_000, unit: 'ms' },
  maxInboundConnections: { min: 1, max: 65536, unit: 'connections' },
  maxInboundPerSource: { min: 1, max: 65536, unit: 'connections' },
  reservedInboundForMembers: { min: 0, max: 65535, unit: 'connections' },
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
  if (limits.reservedInboundForMembers >= limits.maxInboundConnections) {
    throw new MicroK8sError(
      'MK_INVALID_CONFIG',
      'transport.reservedInboundForMembers must be < transport.maxInboundConnections',
      { limit: 'transport.reservedInboundForMembers', value: limits.reservedInboundForMembers },
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
