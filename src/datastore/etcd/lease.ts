/**
 * The Lease service: Grant, Revoke, KeepAlive (a stream), TimeToLive and Leases, with etcd's
 * answers for the edge cases: a keep-alive of an unknown lease answers TTL 0 (the client then
 * drops it), TimeToLive of an unknown lease answers TTL -1, a revoke of one is NOT_FOUND.
 */

import type { Logger } from '../../lib/log.js';
import type { EtcdBackend } from './backend.js';
import { headerOut, int64, leaseId } from './convert.js';
import {
  ETCD_ERRORS,
  type EtcdErrorSpec,
  etcdError,
  invalidRequest,
  mapError,
  toServiceError,
} from './errors.js';
import type { ServerDuplexCall } from './grpc/index.js';
import type { EtcdServerLimits } from './limits.js';
import type {
  OutHeader,
  OutInt64,
  WireLeaseGrantRequest,
  WireLeaseIdRequest,
  WireLeaseTimeToLiveRequest,
} from './proto.js';

export interface OutLeaseKeepAliveResponse {
  header: OutHeader;
  ID: OutInt64;
  TTL: OutInt64;
}

export type KeepAliveCall = ServerDuplexCall<WireLeaseIdRequest, OutLeaseKeepAliveResponse>;

/** Most keep-alive requests of one stream waiting their turn; a client that floods is cut off. */
const MAX_PENDING_KEEPALIVES = 1024;

export class LeaseService {
  private readonly streams = new Set<KeepAliveCall>();

  constructor(
    private readonly backend: EtcdBackend,
    private readonly limits: EtcdServerLimits,
    private readonly logger: Logger,
  ) {}

  private header(): OutHeader {
    return headerOut(this.backend.header());
  }

  async grant(
    req: WireLeaseGrantRequest,
  ): Promise<{ header: OutHeader; ID: OutInt64; TTL: OutInt64; error: string }> {
    const ttl = int64(req.TTL);
    if (ttl > BigInt(this.limits.maxLeaseTtlSeconds)) throw etcdError('leaseTtlTooLarge');
    const id = leaseId(req.ID);
    if (id === undefined) throw invalidRequest('lease id must be positive and below 2^53');
    // etcd's lessor raises a short TTL to its minimum.
    const wanted = Math.max(Number(ttl), this.limits.minLeaseTtlSeconds);
    const granted = await this.backend.leaseGrant(wanted, id);
    return { header: this.header(), ID: granted.id, TTL: granted.ttl, error: '' };
  }

  async revoke(req: WireLeaseIdRequest): Promise<{ header: OutHeader }> {
    const id = leaseId(req.ID);
    if (id === undefined || id === 0) throw etcdError('leaseNotFound');
    await this.backend.leaseRevoke(id);
    return { header: this.header() };
  }

  async timeToLive(req: WireLeaseTimeToLiveRequest): Promise<{
    header: OutHeader;
    ID: OutInt64;
    TTL: OutInt64;
    grantedTTL: OutInt64;
    keys: Uint8Array[];
  }> {
    const id = leaseId(req.ID);
    const echo = int64(req.ID).toString();
    if (id === undefined || id === 0)
      return { header: this.header(), ID: echo, TTL: -1, grantedTTL: 0, keys: [] };
    const info = await this.backend.leaseTimeToLive(id, Boolean(req.keys));
    if (info.ttl === -1) return { header: this.header(), ID: echo, TTL: -1, grantedTTL: 0, keys: [] };
    return { header: this.header(), ID: echo, TTL: info.ttl, grantedTTL: info.grantedTtl, keys: info.keys };
  }

  leases(): { header: OutHeader; leases: { ID: OutInt64 }[] } {
    return { header: this.header(), leases: this.backend.leases().map((id) => ({ ID: id })) };
  }

  /** One keep-alive stream: requests are answered in order, one at a time. */
  keepAlive(call: KeepAliveCall): void {
    this.streams.add(call);
    const pending: WireLeaseIdRequest[] = [];
    let running = false;
    let done = false;
    /** The client half-closed: end the stream once the pending requests are answered. */
    let ending = false;
    const finish = () => {
      done = true;
      pending.length = 0;
      this.streams.delete(call);
    };
    const fail = (error: unknown) => {
      if (done) return;
      const { spec, unexpected } = mapError(error);
      if (unexpected) this.logger.error('lease keep-alive failed', { error });
      finish();
      call.emit('error', toServiceError(spec));
    };
    const pump = async () => {
      if (running) return;
      running = true;
      try {
        while (!done && pending.length > 0) {
          const req = pending.shift()!;
          const echo = int64(req.ID).toString();
          const id = leaseId(req.ID);
          let ttl = 0;
          if (id !== undefined && id !== 0) {
            try {
              ttl = await this.backend.leaseKeepAlive(id);
            } catch (error) {
              // An unknown lease is an answer (TTL 0), not a stream error, as in etcd.
              if (mapError(error).spec !== ETCD_ERRORS.leaseNotFound) throw error;
            }
          }
          if (done) return;
          call.write({ header: this.header(), ID: echo, TTL: ttl });
        }
        if (ending && !done) {
          finish();
          call.end();
        }
      } catch (error) {
        fail(error);
      } finally {
        running = false;
      }
    };
    call.on('data', (req: WireLeaseIdRequest) => {
      if (done) return;
      if (pending.length >= MAX_PENDING_KEEPALIVES) {
        fail(etcdError('tooManyRequests'));
        return;
      }
      pending.push(req);
      void pump();
    });
    call.on('end', () => {
      // The client is done sending: answer what is pending, then end the stream.
      ending = true;
      void pump();
    });
    call.on('cancelled', finish);
    call.on('error', finish);
    call.on('close', finish);
  }

  /** End keep-alive streams (all of them, or those `which` selects) with an etcd error. */
  endStreams(
    reason: EtcdErrorSpec = ETCD_ERRORS.stopped,
    which: (call: KeepAliveCall) => boolean = () => true,
  ): void {
    for (const call of [...this.streams]) {
      if (!which(call)) continue;
      this.streams.delete(call);
      try {
        call.emit('error', toServiceError(reason));
      } catch {
        // Already gone.
      }
    }
  }
}
