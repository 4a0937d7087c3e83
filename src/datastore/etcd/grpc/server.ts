/**
 * A small gRPC server on node:http2: unary, server-streaming and bidirectional-streaming methods,
 * no compression, no reflection, no interceptors. It owns no listening socket: every client
 * connection is handed in with injectConnection() (the etcd server passes each through its
 * :authority rewriter first) and becomes one HTTP/2 server session.
 *
 * Requests are routed by :path. What is not a gRPC request is answered as grpc-go answers it:
 * a content-type other than application/grpc[+...] gets HTTP 415 (INVALID_ARGUMENT), a method
 * other than POST HTTP 405 (INTERNAL), a malformed grpc-timeout HTTP 400 (INTERNAL); an unknown
 * path gets a trailers-only UNIMPLEMENTED. See call.ts for what a call does.
 *
 * Keepalive: a session that received nothing for keepaliveTimeMs is sent a PING; without an
 * answer within keepaliveTimeoutMs it is closed. Client PINGs are answered by HTTP/2 itself.
 */
import http2, { type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { assert } from '../../../lib/assert.js';
import { MicroK8sError } from '../../../lib/errors.js';
import type { Logger } from '../../../lib/log.js';
import {
  CALL_WRITE_BUFFER_BYTES,
  type Handler,
  type MethodDefinition,
  methodKind,
  type RegisteredMethod,
  ServerCall,
  type ServiceDefinition,
  statusHeaders,
} from './call.js';
import { MAX_FRAMED_MESSAGE_BYTES, type ReceiveBudget } from './framing.js';
import { Status, type StatusObject } from './status.js';

const MiB = 1024 * 1024;

export const GRPC_SERVER_LIMITS = {
  /**
   * Concurrent streams per connection. etcd leaves it unbounded (math.MaxUint32) and kube-apiserver
   * multiplexes all its watches and requests over a few connections, so the bound is generous; the
   * session memory limit below is what bounds a connection's memory.
   */
  maxConcurrentStreams: 16_384,
  /**
   * Per-stream receive window. Node's default (64 KiB) makes a 1.5 MiB put take ~24 round trips;
   * a larger window lets it arrive in one, and it costs nothing while requests are read at once.
   */
  streamWindowBytes: 1 * MiB,
  /** Connection receive window, shared by the streams of a connection (HTTP/2's default: 64 KiB). */
  connectionWindowBytes: 8 * MiB,
  /** Largest uncompressed request header list (etcd clients send a few hundred bytes). */
  maxHeaderListBytes: 64 * 1024,
  /** Most header fields in one request. */
  maxHeaderListPairs: 128,
  /**
   * Session memory (Node's maxSessionMemory counts nghttp2's buffers and the data handed to a
   * stream and not yet sent). Sized for this many streams each holding a request at the receive
   * limit and a full write buffer at once; past it, Node refuses new streams on the connection.
   */
  sessionMemoryStreams: 64,
  sessionMemoryBaseBytes: 32 * MiB,
  /**
   * Partly received request bytes one connection may hold across its streams (JS memory, which
   * maxSessionMemory does not see once Node has handed the bytes over). At least this many, and
   * never less than four requests at the receive limit.
   */
  sessionReceiveBudgetBytes: 64 * MiB,
  sessionReceiveBudgetMessages: 4,
  /** setTimeout's range; a grpc-timeout beyond it is no deadline at all. */
  maxTimerMs: 2 ** 31 - 1,
} as const;

export interface GrpcServerOptions {
  /** Largest request message accepted; larger: RESOURCE_EXHAUSTED before it is buffered. */
  readonly maxReceiveMessageBytes: number;
  /** A connection that sent nothing for this long is pinged. */
  readonly keepaliveTimeMs: number;
  /** The ping must be answered within this, or the connection is closed. */
  readonly keepaliveTimeoutMs: number;
  /** Partly received request bytes one connection may hold (default: see GRPC_SERVER_LIMITS). */
  readonly receiveBudgetBytes?: number;
  readonly logger?: Logger;
}

/** grpc-timeout: at most 8 digits and a unit (gRPC over HTTP/2 spec). */
const TIMEOUT_FORMAT = /^(\d{1,8})([HMSmun])$/;
const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** Milliseconds of a grpc-timeout value; undefined for no deadline; null when malformed. */
export function parseGrpcTimeout(value: string | undefined): number | undefined | null {
  if (value === undefined) return undefined;
  const match = TIMEOUT_FORMAT.exec(value);
  if (match === null) return null;
  const ms = Math.ceil(Number(match[1]) * TIMEOUT_UNIT_MS[match[2]!]!);
  return ms > GRPC_SERVER_LIMITS.maxTimerMs ? undefined : ms;
}

function isGrpcContentType(value: string | undefined): boolean {
  if (value === undefined || !value.startsWith('application/grpc')) return false;
  const rest = value.charCodeAt('application/grpc'.length);
  // application/grpc, application/grpc+proto, application/grpc;charset=...
  return Number.isNaN(rest) || rest === 0x2b || rest === 0x3b;
}

interface SessionEntry {
  readonly session: ServerHttp2Session;
  /** Something arrived since the last keepalive tick. */
  active: boolean;
  timer: NodeJS.Timeout | undefined;
  readonly receiveBudget: ReceiveBudget;
}

export class GrpcServer {
  private readonly methods = new Map<string, RegisteredMethod>();
  private readonly services = new Set<string>();
  private readonly sessions = new Set<SessionEntry>();
  private readonly sessionOptions: http2.ServerSessionOptions;
  private readonly logger: Logger | undefined;
  private shuttingDown = false;
  private shutdownWaiters: (() => void)[] = [];

  constructor(private readonly options: GrpcServerOptions) {
    assert(
      Number.isInteger(options.maxReceiveMessageBytes) &&
        options.maxReceiveMessageBytes > 0 &&
        options.maxReceiveMessageBytes <= MAX_FRAMED_MESSAGE_BYTES,
      `maxReceiveMessageBytes ${options.maxReceiveMessageBytes} out of range`,
    );
    assert(options.keepaliveTimeMs > 0 && options.keepaliveTimeoutMs > 0, 'keepalive times must be positive');
    this.logger = options.logger;
    const L = GRPC_SERVER_LIMITS;
    const perStream = options.maxReceiveMessageBytes + L.streamWindowBytes + CALL_WRITE_BUFFER_BYTES;
    this.sessionOptions = {
      maxSessionMemory: Math.ceil((L.sessionMemoryStreams * perStream + L.sessionMemoryBaseBytes) / MiB),
      maxHeaderListPairs: L.maxHeaderListPairs,
      settings: {
        maxConcurrentStreams: L.maxConcurrentStreams,
        initialWindowSize: L.streamWindowBytes,
        maxHeaderListSize: L.maxHeaderListBytes,
      },
    };
  }

  /** Register the methods of one service; every handler must name a method of the definition. */
  addService(definition: ServiceDefinition, handlers: Readonly<Record<string, Handler>>): void {
    for (const name of Object.keys(handlers)) {
      if (definition[name] === undefined) {
        throw new MicroK8sError('MK_INTERNAL', `grpc: handler ${name} names no method of the service`);
      }
    }
    for (const [name, def] of Object.entries(definition)) {
      checkDefinition(name, def);
      if (this.methods.has(def.path)) {
        throw new MicroK8sError('MK_INTERNAL', `grpc: method ${def.path} registered twice`);
      }
      const handler = handlers[name];
      if (handler === undefined) continue; // Left out: UNIMPLEMENTED, as for an unknown method.
      const kind = methodKind(def);
      if (kind === 'clientStream') {
        throw new MicroK8sError('MK_INTERNAL', `grpc: client-streaming method ${def.path} is not supported`);
      }
      this.methods.set(def.path, { definition: def, kind, handler });
      this.services.add(serviceOf(def.path));
    }
  }

  /** Serve one client connection (a socket, or any duplex carrying HTTP/2 from the client). */
  injectConnection(connection: Duplex): void {
    if (this.shuttingDown) {
      connection.destroy();
      return;
    }
    const session = http2.performServerHandshake(connection, this.sessionOptions);
    const entry: SessionEntry = {
      session,
      active: true,
      timer: undefined,
      receiveBudget: {
        used: 0,
        limit:
          this.options.receiveBudgetBytes ??
          Math.max(
            GRPC_SERVER_LIMITS.sessionReceiveBudgetBytes,
            GRPC_SERVER_LIMITS.sessionReceiveBudgetMessages * this.options.maxReceiveMessageBytes,
          ),
      },
    };
    this.sessions.add(entry);
    session.on('error', (error) => this.logger?.debug('grpc session error', { error }));
    session.on('frameError', (type, code) => this.logger?.debug('grpc frame error', { type, code }));
    session.on('ping', () => {
      entry.active = true;
    });
    session.on('stream', (stream, headers) => {
      entry.active = true;
      this.onStream(stream, headers, entry);
    });
    session.once('close', () => {
      if (entry.timer) clearTimeout(entry.timer);
      this.sessions.delete(entry);
      this.maybeShutdownDone();
    });
    try {
      session.setLocalWindowSize(GRPC_SERVER_LIMITS.connectionWindowBytes);
    } catch (error) {
      // The connection died during the handshake; its 'close' cleans up.
      this.logger?.debug('grpc session gone before its window was set', { error });
    }
    this.armKeepalive(entry);
  }

  /** Stop taking connections, send GOAWAY, let the calls in flight finish; `done` once all closed. */
  tryShutdown(done: () => void): void {
    this.shuttingDown = true;
    this.shutdownWaiters.push(done);
    for (const entry of this.sessions) {
      if (!entry.session.closed && !entry.session.destroyed) entry.session.close();
    }
    this.maybeShutdownDone();
  }

  /** Close every connection now; calls in flight see 'cancelled'. */
  forceShutdown(): void {
    this.shuttingDown = true;
    for (const entry of [...this.sessions]) entry.session.destroy();
    this.maybeShutdownDone();
  }

  /** Open connections (for tests and status). */
  get connections(): number {
    return this.sessions.size;
  }

  private maybeShutdownDone(): void {
    if (!this.shuttingDown || this.sessions.size > 0 || this.shutdownWaiters.length === 0) return;
    const waiters = this.shutdownWaiters;
    this.shutdownWaiters = [];
    process.nextTick(() => {
      for (const done of waiters) done();
    });
  }

  // ---------------------------------------------------------------- keepalive

  private armKeepalive(entry: SessionEntry): void {
    entry.timer = setTimeout(() => this.keepaliveTick(entry), this.options.keepaliveTimeMs);
    entry.timer.unref();
  }

  private keepaliveTick(entry: SessionEntry): void {
    entry.timer = undefined;
    const { session } = entry;
    if (session.closed || session.destroyed) return;
    if (entry.active) {
      entry.active = false;
      this.armKeepalive(entry);
      return;
    }
    const deadline = setTimeout(() => {
      this.logger?.debug('grpc keepalive ping unanswered: closing the connection');
      session.destroy();
    }, this.options.keepaliveTimeoutMs);
    deadline.unref();
    let sent: boolean;
    try {
      sent = session.ping((error) => {
        clearTimeout(deadline);
        if (!error && !session.destroyed) this.armKeepalive(entry);
      });
    } catch (error) {
      clearTimeout(deadline);
      this.logger?.debug('grpc keepalive ping failed', { error });
      session.destroy();
      return;
    }
    if (!sent) {
      // Too many pings in flight already (Node's cap); try again next period.
      clearTimeout(deadline);
      this.armKeepalive(entry);
    }
  }

  // ---------------------------------------------------------------- routing

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, entry: SessionEntry): void {
    stream.on('error', (error) => this.logger?.debug('grpc stream error', { error }));
    const contentType = headers['content-type'];
    if (!isGrpcContentType(contentType)) {
      earlyAbort(stream, 415, {
        code: Status.INVALID_ARGUMENT,
        details: `invalid gRPC request content-type ${JSON.stringify(contentType ?? '')}`,
      });
      return;
    }
    const timeoutHeader = headers['grpc-timeout'];
    const timeoutMs = parseGrpcTimeout(typeof timeoutHeader === 'string' ? timeoutHeader : undefined);
    if (timeoutMs === null) {
      earlyAbort(stream, 400, {
        code: Status.INTERNAL,
        details: `malformed grpc-timeout ${JSON.stringify(timeoutHeader)}`,
      });
      return;
    }
    const httpMethod = headers[':method'];
    if (httpMethod !== 'POST') {
      earlyAbort(stream, 405, {
        code: Status.INTERNAL,
        details: `Received a HEADERS frame with :method ${JSON.stringify(httpMethod)} which should be POST`,
      });
      return;
    }
    const path = headers[':path'] ?? '';
    const method = this.methods.get(path);
    if (method === undefined) {
      earlyAbort(stream, 200, { code: Status.UNIMPLEMENTED, details: this.unknownMethod(path) });
      return;
    }
    const call = new ServerCall(
      stream,
      headers,
      method,
      this.options.maxReceiveMessageBytes,
      timeoutMs,
      this.logger,
      () => {
        entry.active = true;
      },
      entry.receiveBudget,
    );
    call.start();
  }

  private unknownMethod(path: string): string {
    const slash = path.lastIndexOf('/');
    if (!path.startsWith('/') || slash <= 0) return `malformed method name: ${JSON.stringify(path)}`;
    const service = path.slice(1, slash);
    if (!this.services.has(service)) return `unknown service ${service}`;
    return `unknown method ${path.slice(slash + 1)} for service ${service}`;
  }
}

/** A response with only headers (status and grpc-status), then RST_STREAM if the client still sends. */
function earlyAbort(stream: ServerHttp2Stream, httpStatus: number, status: StatusObject): void {
  if (stream.destroyed || stream.closed) return;
  stream.resume(); // Discard whatever the client still sends on this stream.
  try {
    stream.respond(
      { ':status': httpStatus, 'content-type': 'application/grpc', ...statusHeaders(status) },
      { endStream: true },
    );
    if (!stream.endAfterHeaders && !stream.readableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR);
  } catch {
    // The stream or its session went away meanwhile: nothing left to answer.
  }
}

function serviceOf(path: string): string {
  return path.slice(1, path.lastIndexOf('/'));
}

function checkDefinition(name: string, def: MethodDefinition): void {
  const ok =
    def !== null &&
    typeof def === 'object' &&
    typeof def.path === 'string' &&
    /^\/[^/]+\/[^/]+$/.test(def.path) &&
    typeof def.requestStream === 'boolean' &&
    typeof def.responseStream === 'boolean' &&
    typeof def.requestDeserialize === 'function' &&
    typeof def.responseSerialize === 'function';
  if (!ok) throw new MicroK8sError('MK_INTERNAL', `grpc: method ${name} has an invalid definition`);
}
