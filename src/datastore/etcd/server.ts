/**
 * The etcd v3 gRPC API of a datastore node: KV, Watch, Lease, Cluster.MemberList,
 * Maintenance.Status/Alarm and grpc.health.v1.Health, over an EtcdBackend.
 *
 * One gRPC server (grpc/, our own on node:http2: the daemon does not load grpc-js), several
 * listeners (listeners.ts); every connection reaches it through the :authority rewriter
 * (authority.ts). Every handler's failure is mapped to etcd's status and
 * message (errors.ts); nothing a client sends can throw past a handler.
 */
import type net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { TLSSocket } from 'node:tls';
import { ConnectionAdmission } from '../../lib/connection-admission.js';
import { MicroK8sError } from '../../lib/errors.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { RateLimitedLog } from '../../lib/rate-limited-log.js';
import { AuthorityRewritingConnection } from './authority.js';
import type { EtcdBackend } from './backend.js';
import { clientRefusal, type IdentityLookups, serveRefusal, tlsPeerCertificate } from './client-identity.js';
import { ETCD_ERRORS, etcdError, mapError, toServiceError } from './errors.js';
import {
  GrpcServer,
  type Metadata,
  type ServerUnaryCall,
  type ServerWritableCall,
  type ServiceDefinition,
  Status,
  type StatusObject,
  type UnaryCallback,
} from './grpc/index.js';
import { KvService } from './kv.js';
import { type KeepAliveCall, LeaseService } from './lease.js';
import { type EtcdServerLimits, validateEtcdLimits } from './limits.js';
import {
  type BoundListener,
  checkListenPolicy,
  type ListenerHandle,
  type ListenOptions,
  listenTcp,
  listenUnix,
} from './listeners.js';
import { HEALTH_SERVICES, MaintenanceService, NOT_SERVING, SERVING } from './maintenance.js';
import { type EtcdServices, loadEtcdServices } from './proto.js';
import { type WatchCall, WatchStream } from './watch.js';

export type { BoundListener, ListenOptions, TlsMaterial } from './listeners.js';

export interface EtcdServerOptions {
  readonly backend: EtcdBackend;
  readonly logger?: Logger;
  readonly limits?: Partial<EtcdServerLimits>;
  /** Check every TLS client's identity (client-identity.ts); unset: any verified chain is accepted. */
  readonly tlsClients?: IdentityLookups;
}

/**
 * A service whose `method` serializer passes an already encoded response through (Range pages and
 * watch events, see wire.ts); anything else goes through the codec's serializer (protobuf/).
 */
function withEncodedResponses(service: ServiceDefinition, method: string): ServiceDefinition {
  const definition = service[method];
  if (definition === undefined)
    throw new MicroK8sError('MK_INTERNAL', `etcd service has no ${method} method`);
  const serialize = definition.responseSerialize;
  return {
    ...service,
    [method]: {
      ...definition,
      responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : serialize(value)),
    },
  };
}

/** How long stop() lets closing connections flush before cutting them. */
const SOCKET_LINGER_MS = 100;

type UnaryHandler = (call: ServerUnaryCall<unknown>, callback: UnaryCallback) => void;

export class EtcdServer {
  private readonly backend: EtcdBackend;
  private readonly logger: Logger;
  /** Lines about limits a client hits (one per interval and limit). */
  private readonly limitLog: RateLimitedLog;
  readonly limits: EtcdServerLimits;
  private readonly grpcServer: GrpcServer;
  private readonly listeners: ListenerHandle[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly watchStreams = new Set<WatchStream>();
  /** Watchers per connection (maxWatchersPerConnection), all its watch streams together. */
  private readonly watchersByConnection = new WeakMap<object, { count: number }>();
  /** Streams opened with clientv3's require-leader metadata. */
  private readonly leaderWatchStreams = new WeakSet<WatchStream>();
  private readonly leaderKeepAlives = new WeakSet<KeepAliveCall>();
  private leaderTimer: NodeJS.Timeout | undefined;
  private leaderlessCount = 0;
  private readonly healthWatchers = new Set<ServerWritableCall<unknown, unknown>>();
  private readonly kv: KvService;
  private readonly lease: LeaseService;
  private readonly maintenance: MaintenanceService;
  private stopping: Promise<void> | undefined;
  private readonly tlsClients: IdentityLookups | undefined;

  constructor(options: EtcdServerOptions) {
    this.backend = options.backend;
    this.tlsClients = options.tlsClients;
    this.logger = options.logger ?? createLogger('datastore.etcd');
    this.limitLog = new RateLimitedLog(this.logger);
    this.limits = validateEtcdLimits(options.limits);
    const services: EtcdServices = loadEtcdServices();
    this.kv = new KvService(this.backend, this.limits);
    this.lease = new LeaseService(this.backend, this.limits, this.logger.child('lease'));
    this.maintenance = new MaintenanceService(this.backend);
    this.grpcServer = new GrpcServer({
      maxReceiveMessageBytes: this.limits.maxRequestBytes + this.limits.grpcOverheadBytes,
      keepaliveTimeMs: this.limits.keepaliveTimeMs,
      keepaliveTimeoutMs: this.limits.keepaliveTimeoutMs,
      logger: this.logger.child('grpc'),
    });
    this.grpcServer.addService(withEncodedResponses(services.KV, 'Range'), {
      Range: this.unary('Range', (req) => this.kv.range(req as never)),
      Put: this.unary('Put', (req) => this.kv.put(req as never)),
      DeleteRange: this.unary('DeleteRange', (req) => this.kv.deleteRange(req as never)),
      Txn: this.unary('Txn', (req) => this.kv.txn(req as never)),
      Compact: this.unary('Compact', (req) => this.kv.compact(req as never)),
    });
    this.grpcServer.addService(withEncodedResponses(services.Watch, 'Watch'), {
      Watch: (call: WatchCall) => this.watch(call),
    });
    this.grpcServer.addService(services.Lease, {
      LeaseGrant: this.unary('LeaseGrant', (req) => this.lease.grant(req as never)),
      LeaseRevoke: this.unary('LeaseRevoke', (req) => this.lease.revoke(req as never)),
      LeaseKeepAlive: (call: KeepAliveCall) => this.keepAlive(call),
      LeaseTimeToLive: this.unary('LeaseTimeToLive', (req) => this.lease.timeToLive(req as never)),
      LeaseLeases: this.unary('LeaseLeases', async () => this.lease.leases()),
    });
    this.grpcServer.addService(services.Cluster, {
      MemberList: this.unary('MemberList', async () => this.maintenance.memberList()),
    });
    this.grpcServer.addService(services.Maintenance, {
      Status: this.unary('Status', async () => this.maintenance.status()),
      Alarm: this.unary('Alarm', async (req) => this.maintenance.alarm(req as never)),
      HashKV: this.unary('HashKV', async (req) => this.maintenance.hashKV(req as never)),
      Defragment: this.unary('Defragment', async () => this.maintenance.defragment()),
    });
    this.grpcServer.addService(services.Health, {
      Check: (call: ServerUnaryCall<{ service: string }>, callback: UnaryCallback) =>
        this.healthCheck(call, callback),
      Watch: (call: ServerWritableCall<{ service: string }, unknown>) => this.healthWatch(call),
    });
  }

  /** Start a listener (call once per listener); resolves with what was bound. */
  async listen(options: ListenOptions): Promise<BoundListener[]> {
    if (this.stopping) throw new MicroK8sError('MK_STOPPED', 'the etcd server is stopped');
    checkListenPolicy(options);
    const bound: BoundListener[] = [];
    const onConnection = (socket: net.Socket) => this.accept(socket);
    const onTlsError = (error: Error, refusedByAdmission: boolean) => {
      if (refusedByAdmission) return; // logged by the admission
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') {
        this.limitLog.warn('tlsHandshakeTimeoutMs', 'closed a client connection: no TLS handshake in time', {
          error: new MicroK8sError(
            'MK_LIMIT_EXCEEDED',
            `no TLS handshake within ${this.limits.tlsHandshakeTimeoutMs} ms`,
          ),
          tlsHandshakeTimeoutMs: this.limits.tlsHandshakeTimeoutMs,
        });
      } else this.logger.debug('TLS handshake refused', { error });
    };
    if (options.unixSocket !== undefined) {
      const handle = await listenUnix(options.unixSocket, options.unixSocketMode ?? 0o600, onConnection);
      this.listeners.push(handle);
      bound.push(handle.bound);
    }
    if (options.tcp !== undefined) {
      const handle = await listenTcp(options.tcp, onConnection, onTlsError, {
        admission: new ConnectionAdmission({
          name: 'etcd client port',
          limits: {
            maxConnections: this.limits.maxClientConnections,
            maxPerSource: this.limits.maxClientConnectionsPerSource,
            reservedForKnown: 0,
          },
          logger: this.logger,
        }),
        tlsHandshakeTimeoutMs: this.limits.tlsHandshakeTimeoutMs,
      });
      this.listeners.push(handle);
      bound.push(handle.bound);
    }
    for (const handle of this.listeners) {
      if (handle.server.listenerCount('error') > 0) continue;
      // An accept failure (EMFILE...) must not become an uncaught 'error' event.
      handle.server.on('error', (error) =>
        this.logger.error('etcd listener error', { error, ...handle.bound }),
      );
    }
    for (const b of bound) this.logger.info('etcd API listening', { ...b });
    this.startLeaderMonitor();
    return bound;
  }

  /**
   * etcd's monitorLeader: when this member has had no leader for a few election timeouts, end the
   * streams that asked for one (kube-apiserver's watches do), so that their clients go to a member
   * that is part of a quorum instead of waiting on one that is cut off.
   */
  private startLeaderMonitor(): void {
    if (this.leaderTimer) return;
    this.leaderTimer = setInterval(() => this.checkLeader(), this.limits.leaderCheckIntervalMs);
    this.leaderTimer.unref();
  }

  private checkLeader(): void {
    let leader: bigint;
    try {
      leader = this.backend.status().leader;
    } catch (error) {
      this.logger.debug('status unavailable for the leader check', { error });
      return;
    }
    if (leader !== 0n) {
      this.leaderlessCount = 0;
      return;
    }
    this.leaderlessCount++;
    if (this.leaderlessCount <= this.limits.leaderlessChecks) return;
    let ended = 0;
    for (const stream of [...this.watchStreams]) {
      if (!this.leaderWatchStreams.has(stream)) continue;
      stream.end(ETCD_ERRORS.noLeader);
      ended++;
    }
    this.lease.endStreams(ETCD_ERRORS.noLeader, (call) => this.leaderKeepAlives.has(call));
    if (ended > 0)
      this.logger.warn('no leader: ended the watch streams that require one', { streams: ended });
  }

  /** Stop accepting, end streams, give calls a grace period, then close everything. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    if (this.leaderTimer) clearInterval(this.leaderTimer);
    // Stop accepting now; the close completes once the open connections are gone (below).
    const closed = Promise.all(this.listeners.map((l) => l.close().catch(() => {})));
    for (const stream of [...this.watchStreams]) stream.end();
    this.lease.endStreams();
    for (const call of this.healthWatchers) {
      try {
        call.write({ status: NOT_SERVING });
        call.end();
      } catch {
        // Gone already.
      }
    }
    this.healthWatchers.clear();
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.grpcServer.forceShutdown();
        resolve();
      }, this.limits.stopGraceMs);
      force.unref();
      this.grpcServer.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    // Let the last frames (GOAWAY, trailers) out, then cut what is left.
    const sockets = [...this.sockets];
    await Promise.race([
      Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.end(resolve)))),
      sleep(SOCKET_LINGER_MS, undefined, { ref: false }),
    ]);
    for (const socket of sockets) socket.destroy();
    this.sockets.clear();
    await closed;
    this.logger.info('etcd API stopped');
  }

  private accept(socket: net.Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    if (this.tlsClients && socket instanceof TLSSocket) {
      // Bytes the client sends meanwhile wait in the socket: nothing reads it before the check.
      const lookups = this.tlsClients;
      clientRefusal(tlsPeerCertificate(socket), lookups)
        .catch((error: unknown) => `its identity could not be checked (${(error as Error).message})`)
        .then((refusal) => {
          if (refusal === undefined) return this.serve(socket);
          this.limitLog.warn('clientIdentity', 'etcd client refused', {
            reason: refusal,
            remote: socket.remoteAddress,
          });
          serveRefusal(socket, refusal);
        });
      return;
    }
    this.serve(socket);
  }

  private serve(socket: net.Socket): void {
    if (this.stopping || socket.destroyed) {
      socket.destroy();
      return;
    }
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', (error) => this.logger.debug('client connection error', { error }));
    const connection = new AuthorityRewritingConnection(socket, this.limits.maxHeaderBlockBytes, (error) =>
      this.logger.warn('client connection closed: protocol violation', { error }),
    );
    connection.on('error', () => {});
    this.grpcServer.injectConnection(connection);
  }

  /**
   * clientv3's WithRequireLeader: refuse at once when the cluster has no leader. Returns whether
   * the call asked for a leader.
   */
  private checkRequireLeader(metadata: Metadata): boolean {
    if (metadata.get('hasleader')[0] !== 'true') return false;
    if (this.backend.status().leader === 0n) throw etcdError('noLeader');
    return true;
  }

  private fail(method: string, error: unknown): StatusObject {
    const { spec, unexpected } = mapError(error);
    if (unexpected) this.logger.error('request failed', { method, error });
    return toServiceError(spec);
  }

  private unary(method: string, handler: (request: unknown) => Promise<unknown>): UnaryHandler {
    return (call, callback) => {
      let result: Promise<unknown>;
      try {
        if (this.stopping) throw etcdError('stopped');
        this.checkRequireLeader(call.metadata);
        result = handler(call.request);
      } catch (error) {
        callback(this.fail(method, error));
        return;
      }
      result.then(
        (response) => callback(null, response),
        (error: unknown) => callback(this.fail(method, error)),
      );
    };
  }

  private watch(call: WatchCall): void {
    let requireLeader: boolean;
    try {
      if (this.stopping) throw etcdError('stopped');
      requireLeader = this.checkRequireLeader(call.metadata);
    } catch (error) {
      call.emit('error', this.fail('Watch', error));
      return;
    }
    const key = call.connection ?? call;
    let connectionWatchers = this.watchersByConnection.get(key);
    if (!connectionWatchers) {
      connectionWatchers = { count: 0 };
      this.watchersByConnection.set(key, connectionWatchers);
    }
    const stream = new WatchStream(
      call,
      {
        backend: this.backend,
        limits: this.limits,
        logger: this.logger.child('watch'),
        connectionWatchers,
        limitLog: this.limitLog,
      },
      (s) => this.watchStreams.delete(s),
    );
    this.watchStreams.add(stream);
    if (requireLeader) this.leaderWatchStreams.add(stream);
  }

  private keepAlive(call: KeepAliveCall): void {
    let requireLeader: boolean;
    try {
      if (this.stopping) throw etcdError('stopped');
      requireLeader = this.checkRequireLeader(call.metadata);
    } catch (error) {
      call.emit('error', this.fail('LeaseKeepAlive', error));
      return;
    }
    if (requireLeader) this.leaderKeepAlives.add(call);
    this.lease.keepAlive(call);
  }

  private healthStatus(service: string): number | undefined {
    if (!HEALTH_SERVICES.has(service)) return undefined;
    return this.stopping ? NOT_SERVING : SERVING;
  }

  private healthCheck(call: ServerUnaryCall<{ service: string }>, callback: UnaryCallback): void {
    const status = this.healthStatus(call.request.service ?? '');
    if (status === undefined) {
      callback({ code: Status.NOT_FOUND, details: 'unknown service' });
      return;
    }
    callback(null, { status });
  }

  private healthWatch(call: ServerWritableCall<{ service: string }, unknown>): void {
    const status = this.healthStatus(call.request.service ?? '');
    if (status === undefined) {
      call.emit('error', { code: Status.NOT_FOUND, details: 'unknown service' });
      return;
    }
    call.write({ status });
    if (this.stopping) {
      call.end();
      return;
    }
    this.healthWatchers.add(call);
    const forget = () => this.healthWatchers.delete(call);
    call.on('cancelled', forget);
    call.on('error', forget);
    call.on('close', forget);
  }
}
