/**
 * One accepted, TLS-authenticated connection: read-only. The first frame must be a hello for
 * this cluster from the node the certificate names; after it, only batch frames. Any breach
 * closes this connection alone (logged at warn with the remote address) and is counted; the
 * transport and its other connections carry on.
 */
import type { TLSSocket } from 'node:tls';
import type { ByteReader } from '../../lib/bytes.js';
import { isMicroK8sError, MicroK8sError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { Message, NodeId } from '../raft/types.js';
import { badFrame, frameReader } from './bad-frame.js';
import { readBatch } from './codec.js';
import type { TransportCounters } from './counters.js';
import {
  decodeHello,
  encodeRejectFrame,
  FrameKind,
  FrameReader,
  MAX_HELLO_FRAME_BYTES,
  PROTOCOL_VERSION,
} from './frames.js';
import { nodeIdFromCertificate, PEER_DNS_SUFFIX } from './identity.js';
import type { TransportLimits } from './limits.js';

/** How long a refused connection stays open for the reject frame to reach the dialer. */
const REJECT_LINGER_MS = 1_000;

export interface InboundContext {
  readonly localId: NodeId;
  readonly clusterId: string;
  readonly limits: TransportLimits;
  readonly logger: Logger;
  readonly counters: TransportCounters;
  /** The hello was accepted (the transport closes an older connection from the same node). */
  authenticated(connection: InboundConnection): void;
  closed(connection: InboundConnection): void;
  /** Hand a decoded, checked message to the application. */
  deliver(message: Message): void;
  /** Why the application refuses this node (e.g. removed from the cluster), or undefined. */
  refusal(node: NodeId): string | undefined;
}

export class InboundConnection {
  /** The node the certificate names; fixed for the connection. */
  private readonly certifiedId: NodeId | undefined;
  private peer: NodeId | undefined;
  private readonly reader = new FrameReader(MAX_HELLO_FRAME_BYTES);
  private helloTimer: NodeJS.Timeout | undefined;
  private reportedMisaddressed = false;
  readonly remote: string;

  constructor(
    readonly socket: TLSSocket,
    private readonly ctx: InboundContext,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.certifiedId = nodeIdFromCertificate(socket.getPeerX509Certificate());
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) =>
      ctx.logger.debug('inbound connection error', { remote: this.remote, error }),
    );
    socket.once('close', () => {
      if (this.helloTimer) clearTimeout(this.helloTimer);
      ctx.closed(this);
    });
    if (this.certifiedId === undefined) {
      this.reject(`the certificate names no peer (expected a SAN DNS:node-<id>${PEER_DNS_SUFFIX})`);
      return;
    }
    this.helloTimer = setTimeout(
      () => this.reject(`no hello within ${ctx.limits.inboundHandshakeTimeoutMs} ms`),
      ctx.limits.inboundHandshakeTimeoutMs,
    );
  }

  private announced: { host: string; port: number } | undefined;

  /** Where the peer says it listens (from its hello), if it said. */
  get announcedAddress(): { host: string; port: number } | undefined {
    return this.announced;
  }

  /** The node this connection speaks for, once its hello was accepted. */
  get peerId(): NodeId | undefined {
    return this.peer;
  }

  private rejected = false;

  close(): void {
    this.socket.destroy();
  }

  private reject(reason: string, info: Record<string, unknown> = {}): void {
    if (this.socket.destroyed || this.rejected) return;
    this.rejected = true;
    this.ctx.counters.rejectedPeers++;
    const error = new MicroK8sError('MK_PEER_REJECTED', reason, info);
    this.ctx.logger.warn('rejected a peer connection', {
      remote: this.remote,
      certifiedNode: this.certifiedId,
      error,
      ...info,
    });
    // Tell the dialer why, then close; a peer that does not read it is cut off soon anyway.
    this.socket.end(encodeRejectFrame(reason));
    setTimeout(() => this.socket.destroy(), REJECT_LINGER_MS).unref();
  }

  private onData(chunk: Buffer): void {
    // After a refusal the socket lingers only to deliver the reject frame: nothing more is read.
    if (this.socket.destroyed || this.rejected) return;
    this.reader.push(chunk);
    // Bounded: each frame consumes at least 5 buffered bytes.
    for (;;) {
      let messages: Message[] | undefined;
      try {
        const payload = this.reader.next();
        if (payload === undefined) return;
        messages = this.handleFrame(payload);
      } catch (error) {
        // Whatever a peer sends must not take the node down: an error other than MK_BAD_FRAME
        // here would be a decoder bug, reported loudly but still confined to this connection.
        const expected = isMicroK8sError(error, 'MK_BAD_FRAME');
        this.ctx.counters.badFrames++;
        const fields = { remote: this.remote, peer: this.peer ?? this.certifiedId, error };
        if (expected) this.ctx.logger.warn('bad frame from peer: closing the connection', fields);
        else this.ctx.logger.error('decoder failure (a bug): closing the connection', fields);
        this.socket.destroy();
        return;
      }
      if (this.socket.destroyed) return;
      // Delivered outside the try: a frame is decoded whole before any of it is delivered, and
      // an exception from the handler is the application's bug, not a bad frame.
      if (messages) for (const message of messages) this.accept(message);
    }
  }

  private handleFrame(payload: Buffer): Message[] | undefined {
    const r = frameReader(payload);
    const kind = r.u8('frame kind');
    if (this.peer === undefined) {
      if (kind !== FrameKind.Hello) throw badFrame(`expected a hello frame, got kind ${kind}`);
      this.onHello(r);
      return undefined;
    }
    if (kind !== FrameKind.Batch) throw badFrame(`expected a batch frame, got kind ${kind}`);
    return readBatch(r);
  }

  private onHello(r: ByteReader): void {
    const hello = decodeHello(r);
    const { ctx } = this;
    if (hello.version !== PROTOCOL_VERSION) {
      this.reject(`unsupported protocol version ${hello.version}`, { version: hello.version });
    } else if (hello.clusterId !== ctx.clusterId) {
      // After a quorum-loss recovery the survivors get a new cluster id: this is how a lost member
      // that comes back is kept out until it is re-joined.
      this.reject(
        `node ${hello.nodeId} belongs to cluster '${hello.clusterId}', not '${ctx.clusterId}' (after a quorum-loss recovery a lost member must be re-joined)`,
        { clusterId: hello.clusterId },
      );
    } else if (hello.nodeId !== this.certifiedId) {
      this.reject(
        `the peer claims to be node ${hello.nodeId} but its certificate is for node ${this.certifiedId}`,
        {
          claimedNode: hello.nodeId,
        },
      );
    } else if (hello.nodeId === ctx.localId) {
      this.reject('the peer claims to be this node', { claimedNode: hello.nodeId });
    } else if (ctx.refusal(hello.nodeId) !== undefined) {
      this.reject(ctx.refusal(hello.nodeId)!, { claimedNode: hello.nodeId });
    } else {
      if (this.helloTimer) clearTimeout(this.helloTimer);
      this.helloTimer = undefined;
      this.peer = hello.nodeId;
      this.announced = hello.address;
      this.reader.maxFrameBytes = ctx.limits.maxFrameBytes;
      ctx.logger.info('accepted a peer connection', { peer: this.peer, remote: this.remote });
      ctx.authenticated(this);
    }
  }

  private accept(message: Message): void {
    if (message.from !== this.peer || message.to !== this.ctx.localId) {
      this.ctx.counters.misaddressed++;
      if (!this.reportedMisaddressed) {
        this.reportedMisaddressed = true;
        this.ctx.logger.warn('dropping messages not from this connection’s peer or not to this node', {
          remote: this.remote,
          peer: this.peer,
          from: message.from,
          to: message.to,
        });
      }
      return;
    }
    this.ctx.deliver(message);
  }
}
