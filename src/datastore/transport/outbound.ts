/**
 * The outbound side of the transport for one peer: a bounded queue and at most one TLS
 * connection that only this side writes to.
 *
 * Life of a link: idle (nothing queued, no socket) -> dialing -> established (hello written,
 * batches flow) -> closed -> waiting out a backoff -> dialing ... Dialing is lazy: only when
 * something is queued. After a failure the next dial waits min * 2^failures ms (capped at the
 * max) with jitter in [delay/2, delay], so peers restarted together do not re-dial in lockstep.
 * A connection that stayed up for STABLE_CONNECTION_MS resets the failure count.
 *
 * Memory is bounded twice: the queue by its limits (dropping the oldest), and the socket by
 * write backpressure (no new frame while `write()` is over its high-water mark). A peer that
 * does not drain for writeStallTimeoutMs is cut off and re-dialed.
 */

import type { TcpNetConnectOpts } from 'node:net';
import type { ConnectionOptions, PeerCertificate, SecureContext, TLSSocket } from 'node:tls';
import { connect } from 'node:tls';
import { assert } from '../../lib/assert.js';
import type { Logger } from '../../lib/log.js';
import type { NodeId } from '../raft/types.js';
import type { TransportCounters } from './counters.js';
import {
  batchFrameOverhead,
  buildBatchFrame,
  decodeRejectFrame,
  FRAME_HEADER_BYTES,
  MAX_REJECT_REASON_BYTES,
} from './frames.js';
import { nodeIdFromSubjectAltName, peerDnsName } from './identity.js';
import type { TransportLimits } from './limits.js';
import { MessageQueue } from './queue.js';

export interface PeerAddress {
  host: string;
  port: number;
}

export interface LinkContext {
  readonly localId: NodeId;
  readonly localAddress: string;
  readonly secureContext: SecureContext;
  /** The hello frame, written first on every connection (set again once the port is known). */
  hello: Buffer;
  readonly limits: TransportLimits;
  readonly logger: Logger;
  readonly random: { float(): number };
  readonly counters: TransportCounters;
}

/** A connection that lived this long was healthy: the next failure starts the backoff over. */
const STABLE_CONNECTION_MS = 1000;
/** Frames written per turn of the event loop before yielding to other peers and timers. */
const MAX_FRAMES_PER_FLUSH = 64;
/** TCP keepalive probes find a peer that vanished without a FIN (power loss, cable). */
const KEEPALIVE_DELAY_MS = 5000;
/** Caps the exponent of the backoff so the arithmetic stays exact. */
const MAX_BACKOFF_DOUBLINGS = 30;

export class PeerLink {
  private address: PeerAddress;
  private readonly queue: MessageQueue;
  private socket: TLSSocket | undefined;
  private established = false;
  private establishedAt = 0;
  private congested = false;
  private failures = 0;
  private nextDialAt = 0;
  private closed = false;
  /** Overflow drops since the queue was last empty: logged once per episode, not per message. */
  private overflowing = false;
  /** Failed dials are reported once per outage, then retried quietly (a down peer is routine). */
  private reportedUnreachable = false;
  private lastRefusal: string | undefined;
  private flushHandle: NodeJS.Immediate | undefined;
  private redialTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  /** Sockets not closed yet, including detached ones still shutting down (awaited by close). */
  private readonly closing = new Set<Promise<void>>();

  constructor(
    private readonly ctx: LinkContext,
    readonly id: NodeId,
    address: PeerAddress,
  ) {
    this.address = { ...address };
    this.queue = new MessageQueue(ctx.limits.maxQueuedMessagesPerPeer, ctx.limits.maxQueuedBytesPerPeer);
  }

  get queuedMessages(): number {
    return this.queue.length;
  }

  get queuedBytes(): number {
    return this.queue.byteSize;
  }

  get currentAddress(): PeerAddress {
    return { ...this.address };
  }

  /** Queue one encoded message; never blocks, never throws for the peer's state. */
  enqueue(encoded: Uint8Array): void {
    const { counters, limits, logger } = this.ctx;
    if (this.closed) {
      counters.dropped++;
      return;
    }
    const frameBytes = batchFrameOverhead(1) - FRAME_HEADER_BYTES + encoded.length;
    if (frameBytes > limits.maxFrameBytes || !this.queue.fits(encoded.length)) {
      counters.dropped++;
      logger.warn('dropped a message larger than the frame or queue limit', {
        peer: this.id,
        bytes: encoded.length,
        maxFrameBytes: limits.maxFrameBytes,
      });
      return;
    }
    const dropped = this.queue.push(encoded);
    if (dropped > 0) {
      counters.dropped += dropped;
      if (!this.overflowing) {
        this.overflowing = true;
        logger.warn('peer queue full: dropping the oldest messages', {
          peer: this.id,
          queuedMessages: this.queue.length,
          queuedBytes: this.queue.byteSize,
        });
      }
    }
    this.kick();
  }

  /** The peer moved: drop the connection to the old address and dial the new one at once. */
  readdress(address: PeerAddress): void {
    if (address.host === this.address.host && address.port === this.address.port) return;
    this.ctx.logger.info('peer readdressed', { peer: this.id, from: this.address, to: address });
    if (this.socket) this.detach(this.socket, new Error('the peer was readdressed'));
    this.address = { ...address };
    this.failures = 0;
    this.nextDialAt = 0;
    this.clearRedial();
    this.kick();
  }

  /** Stop for good: discard the queue, cancel timers, close the socket; resolves once it is closed. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.ctx.counters.dropped += this.queue.clear();
      this.clearRedial();
      if (this.flushHandle) clearImmediate(this.flushHandle);
      this.flushHandle = undefined;
      if (this.socket) this.detach(this.socket, undefined);
    }
    return Promise.all(this.closing).then(() => undefined);
  }

  private clearRedial(): void {
    if (this.redialTimer) clearTimeout(this.redialTimer);
    this.redialTimer = undefined;
  }

  /** Make progress: flush soon if connected, else dial (now or when the backoff allows). */
  private kick(): void {
    if (this.closed || this.queue.length === 0) return;
    if (this.established) {
      this.flushHandle ??= setImmediate(() => {
        this.flushHandle = undefined;
        this.flush();
      });
      return;
    }
    if (this.socket || this.redialTimer) return;
    const wait = this.nextDialAt - Date.now();
    if (wait <= 0) this.dial();
    else this.redialTimer = setTimeout(() => this.dial(), wait);
  }

  private backoffMs(): number {
    const { reconnectMinMs, reconnectMaxMs } = this.ctx.limits;
    const doublings = Math.min(this.failures, MAX_BACKOFF_DOUBLINGS);
    const ceiling = Math.min(reconnectMaxMs, reconnectMinMs * 2 ** doublings);
    return Math.round(ceiling / 2 + this.ctx.random.float() * (ceiling / 2));
  }

  /**
   * Connect now even with nothing to send (at start), so a peer that refuses this node (another
   * cluster after a recovery, a wrong identity) says so at once, on both sides.
   */
  probe(): void {
    if (this.closed || this.socket || this.redialTimer) return;
    this.dial(true);
  }

  private dial(probe = false): void {
    this.redialTimer = undefined;
    if (this.closed || this.socket || (this.queue.length === 0 && !probe)) return;
    const { ctx, id } = this;
    const expected = peerDnsName(id);
    // tls.connect passes socket options such as localAddress on to net.connect; the typings
    // of ConnectionOptions leave them out.
    const options: ConnectionOptions & Pick<TcpNetConnectOpts, 'localAddress'> = {
      host: this.address.host,
      port: this.address.port,
      localAddress: ctx.localAddress,
      secureContext: ctx.secureContext,
      minVersion: 'TLSv1.3',
      // The chain is verified against the cluster CA (rejectUnauthorized); instead of a host
      // name check, the server must prove it is the peer we meant to reach.
      checkServerIdentity: (_host: string, cert: PeerCertificate) =>
        nodeIdFromSubjectAltName(cert.subjectaltname) === id
          ? undefined
          : new Error(`the server at this address is not ${expected}`),
    };
    const socket = connect(options);
    this.socket = socket;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    this.closing.add(closed);
    void closed.then(() => this.closing.delete(closed));
    let lastError: Error | undefined;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    this.handshakeTimer = setTimeout(() => {
      socket.destroy(new Error(`no TLS handshake within ${ctx.limits.handshakeTimeoutMs} ms`));
    }, ctx.limits.handshakeTimeoutMs);
    socket.once('secureConnect', () => this.onEstablished(socket));
    // The listener writes nothing but, at most, one reject frame before it closes: anything
    // else is a protocol violation. Reading also lets us see the peer's close or its TLS alert
    // (TLS 1.3 reports a refused client certificate late).
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]).subarray(
        0,
        FRAME_HEADER_BYTES + 1 + MAX_REJECT_REASON_BYTES,
      );
      const reason = decodeRejectFrame(received);
      if (reason !== undefined) {
        ctx.counters.refusedByPeers++;
        if (reason !== this.lastRefusal) {
          this.lastRefusal = reason;
          ctx.logger.warn('the peer refused this node', { peer: id, reason });
        }
        this.detach(socket, new Error(`refused: ${reason}`));
      } else if (received.length >= FRAME_HEADER_BYTES + 1 + MAX_REJECT_REASON_BYTES) {
        ctx.logger.warn('peer wrote on a one-way connection; closing it', { peer: id });
        this.detach(socket, undefined);
      }
    });
    socket.on('end', () => this.detach(socket, lastError));
    socket.on('error', (error) => {
      lastError = error;
    });
    socket.once('close', () => this.detach(socket, lastError));
  }

  private onEstablished(socket: TLSSocket): void {
    if (this.socket !== socket) return;
    this.clearHandshakeTimer();
    this.established = true;
    this.establishedAt = Date.now();
    this.reportedUnreachable = false;
    this.ctx.counters.outbound++;
    this.ctx.logger.info('connected to peer', {
      peer: this.id,
      address: `${this.address.host}:${this.address.port}`,
      local: socket.localAddress,
    });
    socket.write(this.ctx.hello);
    this.flush();
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
  }

  private clearStallTimer(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  /**
   * Forget the current socket at once (and destroy it): from here on nothing is written to it,
   * and new messages wait in the queue for the next connection. Idempotent per socket, as the
   * 'end', 'close' and our own decisions (stall, readdress, close) may all report the same end.
   */
  private detach(socket: TLSSocket, error: Error | undefined): void {
    socket.destroy();
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.clearHandshakeTimer();
    this.clearStallTimer();
    const wasEstablished = this.established;
    this.established = false;
    this.congested = false;
    if (wasEstablished) {
      this.ctx.counters.outbound--;
      if (Date.now() - this.establishedAt >= STABLE_CONNECTION_MS) this.failures = 0;
    }
    if (this.closed) return;
    const delay = this.backoffMs();
    this.failures++;
    this.nextDialAt = Date.now() + delay;
    const fields = {
      peer: this.id,
      address: `${this.address.host}:${this.address.port}`,
      error: error?.message,
      failures: this.failures,
      retryInMs: delay,
    };
    if (wasEstablished) {
      this.ctx.logger.info('connection to peer closed', fields);
    } else if (!this.reportedUnreachable) {
      this.reportedUnreachable = true;
      this.ctx.logger.warn('cannot connect to peer; retrying with backoff', fields);
    } else {
      this.ctx.logger.debug('cannot connect to peer', fields);
    }
    this.kick();
  }

  /** Coalesce queued messages into frames and write them until the socket pushes back. */
  private flush(): void {
    const socket = this.socket;
    if (!socket || !this.established || this.congested || this.closed || socket.destroyed) return;
    const maxBatch = this.ctx.limits.maxBatchBytes;
    for (let frames = 0; frames < MAX_FRAMES_PER_FLUSH && this.queue.length > 0; frames++) {
      const parts: Uint8Array[] = [];
      let bytes = 0;
      // At least one message per frame; enqueue() already refused any that cannot fit a frame.
      for (let next = this.queue.peek(); next !== undefined; next = this.queue.peek()) {
        if (parts.length > 0 && bytes + next.length > maxBatch) break;
        parts.push(this.queue.shift());
        bytes += next.length;
      }
      assert(parts.length > 0, 'a frame carries at least one message');
      this.ctx.counters.sent += parts.length;
      if (!socket.write(buildBatchFrame(parts, bytes))) {
        this.waitForDrain(socket);
        break;
      }
    }
    if (this.queue.length === 0) this.overflowing = false;
    else if (!this.congested) this.kick(); // yielded after MAX_FRAMES_PER_FLUSH: continue next turn
  }

  private waitForDrain(socket: TLSSocket): void {
    this.congested = true;
    const onDrain = () => {
      if (this.socket !== socket) return;
      this.clearStallTimer();
      this.congested = false;
      this.flush();
    };
    socket.once('drain', onDrain);
    this.stallTimer = setTimeout(() => {
      socket.off('drain', onDrain);
      this.ctx.logger.warn('peer stopped reading: closing the connection to re-dial it', {
        peer: this.id,
        stalledMs: this.ctx.limits.writeStallTimeoutMs,
        unsentBytes: socket.writableLength,
        queuedMessages: this.queue.length,
      });
      this.detach(socket, new Error('write stalled'));
    }, this.ctx.limits.writeStallTimeoutMs);
  }
}
