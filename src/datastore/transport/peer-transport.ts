/**
 * The peer transport: carries Raft messages between the members of one cluster over mutual
 * TLS 1.3, certificates from the cluster CA (see identity.ts for how a certificate names its
 * node).
 *
 * Connection model: every node dials one outbound connection per peer and only writes to it;
 * connections it accepts are only read from. One direction per connection keeps each side
 * simple (no request/response, no tie-breaking between simultaneous dials) and lets a node bind
 * its outgoing connections to its own address (`localAddress`), so per-address firewall rules
 * on a shared host (tests, or several nodes on loopback) affect exactly that node.
 *
 * Delivery is best effort, as Raft expects: messages can be dropped (bounded queues, restarts,
 * stalls) but are never altered, and those of one connection arrive in order.
 *
 * The message handler is called synchronously, in order, for each message of a frame once the
 * whole frame has been decoded. It must not throw: an exception there is the application's bug
 * and is not swallowed here.
 */
import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { type AddressInfo, isIP } from 'node:net';
import { createSecureContext, createServer, type SecureContext, type Server, type TLSSocket } from 'node:tls';
import { assert } from '../../lib/assert.js';
import { ConnectionAdmission, sameAddress } from '../../lib/connection-admission.js';
import { MicroK8sError } from '../../lib/errors.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { SeededRandom } from '../../lib/random.js';
import { RateLimitedLog } from '../../lib/rate-limited-log.js';
import type { Message, NodeId } from '../raft/types.js';
import { encodeMessage } from './codec.js';
import { newCounters, type TransportCounters } from './counters.js';
import { encodeHelloFrame, MAX_CLUSTER_ID_BYTES, PROTOCOL_VERSION } from './frames.js';
import { nodeIdFromCertificate, peerDnsName } from './identity.js';
import { InboundConnection, type InboundContext } from './inbound.js';
import { type TransportLimits, validateTransportLimits } from './limits.js';
import { type LinkContext, type PeerAddress, PeerLink } from './outbound.js';

export type { PeerAddress } from './outbound.js';

export interface PeerTransportOptions {
  id: NodeId;
  clusterId: string;
  /** The node's own address; port 0 picks an ephemeral port (see `port`). */
  listen: PeerAddress;
  /** Every outgoing connection binds its local address to this (an IP address). */
  localAddress: string;
  /** PEM contents: the cluster CA, and this node's peer certificate and key. */
  tls: { ca: string | Buffer; cert: string | Buffer; key: string | Buffer };
  peers: ReadonlyMap<NodeId, PeerAddress>;
  logger?: Logger;
  limits?: Partial<TransportLimits>;
  /** Jitter for reconnect backoff; defaults to a generator seeded from the crypto source. */
  random?: { float(): number };
  /** Refuse a certified node of this cluster, with a reason (e.g. it was removed). */
  refusal?: (node: NodeId) => string | undefined;
}

export interface TransportStats {
  sent: number;
  received: number;
  dropped: number;
  badFrames: number;
  rejectedPeers: number;
  /** Open connections: established outbound plus accepted (hello done) inbound. */
  connections: number;
  misaddressed: number;
  queuedMessages: number;
  queuedBytes: number;
}

type State = 'new' | 'starting' | 'running' | 'stopped';

function configError(message: string, info: Record<string, unknown> = {}): MicroK8sError {
  return new MicroK8sError('MK_INVALID_CONFIG', message, info);
}

function checkNodeId(id: unknown, what: string): void {
  if (!Number.isSafeInteger(id) || (id as number) < 1)
    throw configError(`${what} must be a node id >= 1`, { id });
}

function checkAddress(address: PeerAddress, what: string, allowEphemeral: boolean): void {
  if (typeof address.host !== 'string' || address.host.length === 0)
    throw configError(`${what} needs a host`);
  const min = allowEphemeral ? 0 : 1;
  if (!Number.isInteger(address.port) || address.port < min || address.port > 65535) {
    throw configError(`${what} port must be ${min}..65535`, { port: address.port });
  }
}

/**
 * A TLS server socket wraps the accepted TCP socket; Node keeps it as `_parent` (not a documented
 * field, hence the callers' fallbacks).
 */
function parentOf(socket: TLSSocket): Socket | undefined {
  return (socket as unknown as { _parent?: Socket })._parent;
}

export class PeerTransport {
  private readonly id: NodeId;
  private readonly clusterId: string;
  private readonly listenAddress: PeerAddress;
  private readonly limits: TransportLimits;
  private readonly logger: Logger;
  private readonly counters: TransportCounters = newCounters();
  private readonly tls: PeerTransportOptions['tls'];
  private readonly linkContext: LinkContext;
  private readonly refusal: ((node: NodeId) => string | undefined) | undefined;
  private readonly links = new Map<NodeId, PeerLink>();
  /** Links removed by setPeers whose sockets may still be closing (awaited by stop). */
  private readonly retiring = new Set<Promise<void>>();
  private readonly inbound = new Set<InboundConnection>();
  private readonly inboundByPeer = new Map<NodeId, InboundConnection>();
  /** Raw accepted sockets, including those still in the TLS handshake, to close on stop. */
  private readonly rawSockets = new Set<Socket>();
  /** Remote address of each accepted TCP socket, kept for logging failed TLS handshakes. */
  private readonly remotes = new WeakMap<Socket, string>();
  private handler: ((message: Message) => void) | undefined;
  private server: Server | undefined;
  private admission: ConnectionAdmission | undefined;
  /** Failed handshakes come by the hundred under a flood: one line per interval. */
  private handshakeLog: RateLimitedLog | undefined;
  private state: State = 'new';

  constructor(options: PeerTransportOptions) {
    checkNodeId(options.id, 'transport id');
    const clusterBytes = Buffer.byteLength(options.clusterId ?? '');
    if (typeof options.clusterId !== 'string' || clusterBytes < 1 || clusterBytes > MAX_CLUSTER_ID_BYTES) {
      throw configError(`the cluster id must be 1..${MAX_CLUSTER_ID_BYTES} bytes`);
    }
    checkAddress(options.listen, 'the listen address', true);
    if (isIP(options.localAddress) === 0) {
      throw configError('localAddress must be an IP address', { localAddress: options.localAddress });
    }
    this.id = options.id;
    this.clusterId = options.clusterId;
    this.refusal = options.refusal;
    this.listenAddress = { ...options.listen };
    this.limits = validateTransportLimits(options.limits);
    this.logger = options.logger ?? createLogger('datastore.transport');
    this.tls = options.tls;
    const secureContext = this.checkTls(options.tls);
    this.linkContext = {
      localId: this.id,
      localAddress: options.localAddress,
      secureContext,
      hello: encodeHelloFrame({ version: PROTOCOL_VERSION, clusterId: this.clusterId, nodeId: this.id }),
      limits: this.limits,
      logger: this.logger,
      random: options.random ?? SeededRandom.fromEntropy(),
      counters: this.counters,
    };
    this.setPeers(options.peers);
  }

  /** Fail at construction, with MK_TLS, on unusable PEM or a certificate for another node. */
  private checkTls(tls: PeerTransportOptions['tls']): SecureContext {
    let cert: X509Certificate;
    let context: SecureContext;
    try {
      cert = new X509Certificate(tls.cert);
      context = createSecureContext({ ca: tls.ca, cert: tls.cert, key: tls.key, minVersion: 'TLSv1.3' });
    } catch (error) {
      // The message of a PEM parse error names no key material.
      throw new MicroK8sError(
        'MK_TLS',
        `unusable peer TLS material: ${(error as Error).message}`,
        {},
        { cause: error },
      );
    }
    const named = nodeIdFromCertificate(cert);
    if (named !== this.id) {
      throw new MicroK8sError(
        'MK_TLS',
        `the peer certificate must carry the SAN DNS:${peerDnsName(this.id)} (it names ${named === undefined ? 'no node' : `node ${named}`})`,
      );
    }
    return context;
  }

  async start(): Promise<void> {
    assert(this.state === 'new', () => `start() on a transport that is ${this.state}`);
    this.state = 'starting';
    const server = createServer({
      ca: this.tls.ca,
      cert: this.tls.cert,
      key: this.tls.key,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      handshakeTimeout: this.limits.inboundHandshakeTimeoutMs,
    });
    // Not server.maxConnections: it counts every socket alike, so sockets that never finish a
    // handshake could keep a member out (see ConnectionAdmission).
    const admission = new ConnectionAdmission({
      name: 'peer port',
      limits: {
        maxConnections: this.limits.maxInboundConnections,
        maxPerSource: this.limits.maxInboundPerSource,
        reservedForKnown: this.limits.reservedInboundForMembers,
      },
      logger: this.logger,
      isKnown: (address) => this.isMemberAddress(address),
    });
    this.admission = admission;
    this.handshakeLog = new RateLimitedLog(this.logger);
    admission.attach(server);
    server.on('connection', (socket: Socket) => {
      if (admission.wasRefused(socket)) return;
      this.rawSockets.add(socket);
      // Read now: once a failed handshake has closed the socket, the address is gone.
      this.remotes.set(socket, `${socket.remoteAddress}:${socket.remotePort}`);
      socket.once('close', () => this.rawSockets.delete(socket));
    });
    server.on('secureConnection', (socket: TLSSocket) => this.onSecureConnection(socket));
    server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
      socket.destroy();
      // A socket the admission closed: already counted and logged there.
      if (admission.wasRefused(parentOf(socket))) return;
      this.counters.rejectedPeers++;
      // With rejectUnauthorized, Node closes a connection whose client certificate fails
      // verification and reports only "socket hang up"; the real reason is authorizationError.
      const reason = socket.authorizationError ? String(socket.authorizationError) : error.message;
      const tlsError = (error as NodeJS.ErrnoException).code;
      this.handshakeLog?.warn(`tls:${tlsError}`, 'rejected a peer connection: TLS handshake failed', {
        remote: this.remoteOf(socket),
        error: new MicroK8sError('MK_PEER_REJECTED', reason, {}, { cause: error }),
        tlsError,
        ...(tlsError === 'ERR_TLS_HANDSHAKE_TIMEOUT'
          ? { inboundHandshakeTimeoutMs: this.limits.inboundHandshakeTimeoutMs }
          : {}),
      });
    });
    this.server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.listenAddress.port, this.listenAddress.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      this.state = 'stopped';
      throw new MicroK8sError(
        'MK_INVALID_CONFIG',
        `cannot listen for peers on ${this.listenAddress.host}:${this.listenAddress.port}: ${(error as Error).message}`,
        { listen: this.listenAddress },
        { cause: error },
      );
    }
    server.on('error', (error) => this.logger.error('peer listener error', { error }));
    if (this.state !== 'starting') {
      // stop() was called while listening began: undo.
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return;
    }
    this.state = 'running';
    // Announce where we listen (known now, port 0 included), unless it is a wildcard address.
    if (isIP(this.listenAddress.host) !== 0 && !['0.0.0.0', '::'].includes(this.listenAddress.host)) {
      this.linkContext.hello = encodeHelloFrame({
        version: PROTOCOL_VERSION,
        clusterId: this.clusterId,
        nodeId: this.id,
        address: { host: this.listenAddress.host, port: this.port },
      });
    }
    this.logger.info('peer transport listening', {
      id: this.id,
      address: `${this.listenAddress.host}:${this.port}`,
    });
  }

  /** The bound port (the real one when listening on port 0). */
  get port(): number {
    assert(this.server?.listening, 'port is known once start() has resolved');
    return (this.server.address() as AddressInfo).port;
  }

  onMessage(handler: (message: Message) => void): void {
    this.handler = handler;
  }

  /**
   * Queue messages for their destinations (`to`). Never blocks and never waits for a peer:
   * messages for unknown peers, or beyond a peer's queue bounds (the oldest go first), are
   * dropped and counted. Each message is encoded here, so queues hold exact byte counts.
   */
  send(messages: readonly Message[]): void {
    for (const message of messages) {
      const link = this.state === 'stopped' ? undefined : this.links.get(message.to);
      if (!link) {
        this.counters.dropped++;
        continue;
      }
      link.enqueue(encodeMessage(message));
    }
  }

  /** Connect to every peer now (see PeerLink.probe). */
  probeAll(): void {
    for (const link of this.links.values()) link.probe();
  }

  /** Replace the peer set: new peers are added, removed ones closed, moved ones re-dialed. */
  setPeers(peers: ReadonlyMap<NodeId, PeerAddress>): void {
    for (const [id, address] of peers) {
      checkNodeId(id, 'peer id');
      checkAddress(address, `peer ${id}`, false);
    }
    if (this.state === 'stopped') return;
    for (const [id, link] of this.links) {
      if (peers.has(id) && id !== this.id) continue;
      this.links.delete(id);
      const closing = link.close().finally(() => this.retiring.delete(closing));
      this.retiring.add(closing);
      this.logger.info('peer removed', { peer: id });
    }
    for (const [id, address] of peers) {
      if (id === this.id) continue; // membership lists include the node itself
      const link = this.links.get(id);
      if (link) link.readdress(address);
      else this.links.set(id, new PeerLink(this.linkContext, id, address));
    }
  }

  stats(): TransportStats {
    let queuedMessages = 0;
    let queuedBytes = 0;
    for (const link of this.links.values()) {
      queuedMessages += link.queuedMessages;
      queuedBytes += link.queuedBytes;
    }
    const c = this.counters;
    return {
      sent: c.sent,
      received: c.received,
      dropped: c.dropped,
      badFrames: c.badFrames,
      rejectedPeers: c.rejectedPeers,
      connections: c.outbound + c.inbound,
      misaddressed: c.misaddressed,
      queuedMessages,
      queuedBytes,
    };
  }

  /** Close everything; resolves when the listener and every socket are closed. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' && !this.server) return;
    this.state = 'stopped';
    const server = this.server;
    this.server = undefined;
    const closings: Promise<void>[] = [...this.retiring];
    for (const link of this.links.values()) closings.push(link.close());
    this.links.clear();
    if (server) {
      closings.push(new Promise<void>((resolve) => server.close(() => resolve())));
      for (const connection of this.inbound) connection.close();
      for (const socket of this.rawSockets) socket.destroy();
    }
    await Promise.all(closings);
    this.logger.info('peer transport stopped', { id: this.id });
  }

  /** Inbound sockets open now (handshaking or not) and refused by the admission so far. */
  inboundAdmission(): { open: number; refused: number } {
    return { open: this.admission?.openConnections ?? 0, refused: this.admission?.refused ?? 0 };
  }

  /** A source address is a member's: the host it is dialed at (the member table's peer address). */
  private isMemberAddress(address: string): boolean {
    for (const link of this.links.values()) if (sameAddress(link.currentAddress.host, address)) return true;
    return false;
  }

  private remoteOf(socket: TLSSocket): string {
    if (socket.remoteAddress) return `${socket.remoteAddress}:${socket.remotePort}`;
    const parent = parentOf(socket);
    return (parent && this.remotes.get(parent)) ?? 'unknown';
  }

  private onSecureConnection(socket: TLSSocket): void {
    if (this.state !== 'running') {
      socket.destroy();
      return;
    }
    const transport = this;
    const context: InboundContext = {
      localId: this.id,
      clusterId: this.clusterId,
      limits: this.limits,
      logger: this.logger,
      counters: this.counters,
      authenticated(connection) {
        const peer = connection.peerId!;
        const previous = transport.inboundByPeer.get(peer);
        // The peer re-dialed: its old connection is dead or about to be; keep one per peer.
        if (previous && previous !== connection) previous.close();
        transport.inboundByPeer.set(peer, connection);
        transport.counters.inbound++;
        // A known peer that announces another address has moved: dial it there from now on.
        const announced = connection.announcedAddress;
        const link = transport.links.get(peer);
        if (announced && link) link.readdress(announced);
      },
      closed(connection) {
        transport.inbound.delete(connection);
        const peer = connection.peerId;
        if (peer === undefined) return;
        transport.counters.inbound--;
        if (transport.inboundByPeer.get(peer) === connection) transport.inboundByPeer.delete(peer);
      },
      refusal(node) {
        return transport.refusal?.(node);
      },
      deliver(message) {
        if (!transport.handler || transport.state !== 'running') return;
        transport.counters.received++;
        transport.handler(message);
      },
    };
    this.inbound.add(new InboundConnection(socket, context));
  }
}
