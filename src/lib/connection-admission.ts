/**
 * Admission of accepted TCP connections, before any TLS work: a cap on open sockets, a cap per
 * source address, and slots kept back for known sources (the cluster's members on the peer port).
 *
 * Sockets still in the TLS handshake count: they are what an attacker without a certificate can
 * hold. The per-source cap stops one address from taking every slot; the reserve stops many
 * addresses from locking out the members. A source that shares a member's address (the same
 * host) is not told apart from it.
 */
import type { Server, Socket } from 'node:net';
import { MicroK8sError } from './errors.js';
import type { Logger } from './log.js';
import { RateLimitedLog } from './rate-limited-log.js';

export interface AdmissionLimits {
  /** Open sockets at one time, authenticated or not. */
  readonly maxConnections: number;
  /** Open sockets from one source address. */
  readonly maxPerSource: number;
  /** Slots of maxConnections only known sources may take (0: none). */
  readonly reservedForKnown: number;
}

export interface AdmissionOptions {
  /** What listens, for the log and the error (e.g. "peer port"). */
  readonly name: string;
  readonly limits: AdmissionLimits;
  readonly logger: Logger;
  /** Whether a source address is known (gets the reserved slots). */
  readonly isKnown?: (address: string) => boolean;
}

/** "::ffff:10.0.0.1" and "10.0.0.1" are the same source. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return (mapped ? mapped[1]! : address).toLowerCase();
}

/** Whether two host strings name the same IP address (hostnames compare as written). */
export function sameAddress(a: string, b: string): boolean {
  return normalizeAddress(a.replace(/^\[|\]$/g, '')) === normalizeAddress(b.replace(/^\[|\]$/g, ''));
}

export class ConnectionAdmission {
  private open = 0;
  private readonly perSource = new Map<string, number>();
  private readonly refusedSockets = new WeakSet<Socket>();
  private readonly log: RateLimitedLog;
  /** Connections refused so far (tests, status). */
  refused = 0;

  constructor(private readonly options: AdmissionOptions) {
    this.log = new RateLimitedLog(options.logger);
  }

  /** Admit or refuse each connection the server accepts (the server must not set maxConnections). */
  attach(server: Server): void {
    server.on('connection', (socket: Socket) => this.admit(socket));
  }

  get openConnections(): number {
    return this.open;
  }

  /** A socket this admission closed (its TLS layer then reports a reset: not worth a line). */
  wasRefused(socket: Socket | undefined): boolean {
    return socket !== undefined && this.refusedSockets.has(socket);
  }

  /** Count the socket, or close it at once; returns whether it was admitted. */
  admit(socket: Socket): boolean {
    const source = normalizeAddress(socket.remoteAddress);
    const reason = this.refusal(source);
    if (reason !== undefined) {
      this.refused++;
      this.refusedSockets.add(socket);
      socket.destroy();
      const { name, limits } = this.options;
      this.log.warn(`${name}:${reason.limit}`, `refused a connection on the ${name}: ${reason.message}`, {
        source,
        error: new MicroK8sError('MK_LIMIT_EXCEEDED', reason.message, { limit: reason.limit }),
        [reason.limit]: limits[reason.limit],
        open: this.open,
      });
      return false;
    }
    this.open++;
    this.perSource.set(source, (this.perSource.get(source) ?? 0) + 1);
    socket.once('close', () => {
      this.open--;
      const left = (this.perSource.get(source) ?? 1) - 1;
      if (left > 0) this.perSource.set(source, left);
      else this.perSource.delete(source);
    });
    return true;
  }

  private refusal(source: string): { limit: keyof AdmissionLimits; message: string } | undefined {
    const { limits } = this.options;
    if ((this.perSource.get(source) ?? 0) >= limits.maxPerSource) {
      return { limit: 'maxPerSource', message: `${limits.maxPerSource} connections from ${source} are open` };
    }
    if (this.open >= limits.maxConnections) {
      return { limit: 'maxConnections', message: `${limits.maxConnections} connections are open` };
    }
    const known = limits.reservedForKnown > 0 && (this.options.isKnown?.(source) ?? false);
    if (!known && this.open >= limits.maxConnections - limits.reservedForKnown) {
      return {
        limit: 'reservedForKnown',
        message: `the last ${limits.reservedForKnown} of ${limits.maxConnections} slots are kept for known members`,
      };
    }
    return undefined;
  }
}
