/**
 * One gRPC call on one HTTP/2 stream, as a handler sees it. The members are the subset of
 * grpc-js's server call objects that the etcd handlers use, with the same meaning:
 *
 *  - `request` (unary and server-streaming), `metadata.get(key)`, `cancelled`;
 *  - events 'data' (each request message of a streaming request), 'end' (the client half-closed),
 *    'cancelled' (the call ended without the handler ending it: the client reset the stream, the
 *    connection went away, the deadline passed or the client sent a bad message), 'drain' (room
 *    again after write() returned false) and 'close' (the stream is gone; always the last event);
 *  - write(message): false once CALL_WRITE_BUFFER_BYTES wait to be flushed (HTTP/2 flow control
 *    holds them), then 'drain'; writes after the call ended are dropped;
 *  - end(): status OK after the messages written so far; emit('error', { code, details }): that
 *    status instead; for unary calls the handler's callback(error, value) does either.
 *
 * Responses: headers (:status 200, content-type application/grpc) go out with the first message;
 * a call that ends before any message gets a trailers-only response. Large messages are handed
 * to the stream in slices as the peer reads them, so that no more than the write buffer of a
 * call counts against the HTTP/2 session's memory at a time.
 */
import { EventEmitter } from 'node:events';
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { assert } from '../../../lib/assert.js';
import type { Logger } from '../../../lib/log.js';
import { CompressedMessageError, frameMessage, MessageDecoder, type ReceiveBudget } from './framing.js';
import { Metadata } from './metadata.js';
import {
  encodeGrpcMessage,
  GrpcStatusError,
  type ServiceErrorLike,
  Status,
  type StatusCode,
  type StatusObject,
  statusOf,
} from './status.js';

/** Bytes of one call handed to HTTP/2 and not yet flushed, above which write() returns false. */
export const CALL_WRITE_BUFFER_BYTES = 256 * 1024;
/** Largest piece of a message handed to the HTTP/2 stream at once. */
export const WRITE_SLICE_BYTES = 64 * 1024;

const { NGHTTP2_NO_ERROR, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;
/** How long a cut-off call's client has to read its status before the stream is reset. */
export const CUT_OFF_LINGER_MS = 10_000;

/** A method as the service definitions describe it (the grpc-js ServiceDefinition fields we use). */
export interface MethodDefinition {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestDeserialize: (bytes: Buffer) => unknown;
  // biome-ignore lint/suspicious/noExplicitAny: definitions are generic over the message type
  readonly responseSerialize: (value: any) => Uint8Array;
}

export type ServiceDefinition = Readonly<Record<string, MethodDefinition>>;

export type MethodKind = 'unary' | 'serverStream' | 'clientStream' | 'bidi';

export function methodKind(def: MethodDefinition): MethodKind {
  if (def.requestStream) return def.responseStream ? 'bidi' : 'clientStream';
  return def.responseStream ? 'serverStream' : 'unary';
}

export type UnaryCallback<Res = unknown> = (error: ServiceErrorLike | null, value?: Res) => void;

/** What every call offers. */
export interface ServerCallBase extends EventEmitter {
  readonly metadata: Metadata;
  readonly cancelled: boolean;
  getPath(): string;
  /** The connection the call came on (its HTTP/2 session): calls of one connection share it. */
  readonly connection?: object;
  /**
   * End the call now with `status`, dropping the responses not yet handed to HTTP/2 (a client
   * that does not read would otherwise hold them); the stream is reset if the client has not
   * taken the status within CUT_OFF_LINGER_MS.
   */
  cutOff?(status: StatusObject): void;
}

export interface ServerUnaryCall<Req> extends ServerCallBase {
  readonly request: Req;
}

export interface ServerWritableCall<Req, Res> extends ServerUnaryCall<Req> {
  write(message: Res): boolean;
  end(): void;
}

export interface ServerDuplexCall<_Req, Res> extends ServerCallBase {
  write(message: Res): boolean;
  end(): void;
}

export type UnaryHandler<Req = unknown, Res = unknown> = (
  call: ServerUnaryCall<Req>,
  callback: UnaryCallback<Res>,
) => void;
export type ServerStreamingHandler<Req = unknown, Res = unknown> = (
  call: ServerWritableCall<Req, Res>,
) => void;
export type BidiStreamingHandler<Req = unknown, Res = unknown> = (call: ServerDuplexCall<Req, Res>) => void;
// biome-ignore lint/suspicious/noExplicitAny: handlers are generic over the call type
export type Handler = (call: any, callback?: any) => void;

export interface RegisteredMethod {
  readonly definition: MethodDefinition;
  readonly kind: MethodKind;
  readonly handler: Handler;
}

/** open: running; ending: the final status is decided, messages may still be flushing; done: gone. */
type CallState = 'open' | 'ending' | 'done';

const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc' } as const;

export class ServerCall extends EventEmitter implements ServerWritableCall<unknown, unknown> {
  request: unknown = undefined;
  readonly metadata: Metadata;
  cancelled = false;

  private state: CallState = 'open';
  private headersSent = false;
  private handlerStarted = false;
  private gotRequest = false;
  private readonly decoder: MessageDecoder;
  private readonly received: Buffer[] = [];
  /** Slices not yet handed to the stream, and the bytes handed over but not flushed. */
  private readonly backlog: Buffer[] = [];
  private inFlight = 0;
  private needDrain = false;
  private finalStatus: StatusObject | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly headers: IncomingHttpHeaders,
    private readonly method: RegisteredMethod,
    maxReceiveMessageBytes: number,
    timeoutMs: number | undefined,
    private readonly logger: Logger | undefined,
    /** Told of every chunk received (the connection's keepalive counts it as activity). */
    private readonly onActivity: () => void,
    /** The connection's budget of partly received request bytes (see ReceiveBudget). */
    receiveBudget: ReceiveBudget,
  ) {
    super();
    this.metadata = new Metadata(headers);
    this.decoder = new MessageDecoder(maxReceiveMessageBytes, receiveBudget);
    // emit('error', status) from a handler ends the call with that status (grpc-js does the same).
    this.on('error', (error: unknown) => this.finish(statusOf(error)));
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('end', () => this.onEnd());
    stream.on('close', () => this.onClose());
    stream.on('error', (error) => this.logger?.debug('grpc stream error', { path: this.getPath(), error }));
    stream.on('wantTrailers', () => this.sendTrailers());
    if (timeoutMs !== undefined) {
      this.deadlineTimer = setTimeout(() => this.onDeadline(), timeoutMs);
      this.deadlineTimer.unref();
    }
  }

  getPath(): string {
    return this.method.definition.path;
  }

  get connection(): object {
    return this.stream.session ?? this.stream;
  }

  cutOff(status: StatusObject): void {
    if (this.state !== 'open') return;
    this.backlog.length = 0;
    this.finish(status);
    this.markCancelled();
    const reset = setTimeout(() => {
      if (!this.stream.destroyed && !this.stream.closed)
        this.guard(() => this.stream.close(NGHTTP2_ENHANCE_YOUR_CALM));
    }, CUT_OFF_LINGER_MS);
    reset.unref();
    this.stream.once('close', () => clearTimeout(reset));
  }

  /** Run the handler of a streaming-request call at once; unary ones wait for their request. */
  start(): void {
    if (this.method.kind === 'bidi') this.runHandler();
  }

  // ---------------------------------------------------------------- requests

  private onData(chunk: Buffer): void {
    this.onActivity();
    if (this.state !== 'open') return;
    try {
      this.decoder.push(chunk, this.received);
    } catch (error) {
      this.received.length = 0;
      this.decoder.release();
      this.abort(this.receiveFailure(error));
      return;
    }
    for (let i = 0; i < this.received.length; i++) {
      if (this.state !== 'open') break;
      this.onMessage(this.received[i]!);
    }
    this.received.length = 0;
  }

  private receiveFailure(error: unknown): StatusObject {
    if (error instanceof CompressedMessageError) {
      // A compressed message under an encoding we never offered is UNIMPLEMENTED; the flag without
      // any encoding is a protocol violation (INTERNAL), as gRPC specifies.
      const encoding = this.metadataHeader('grpc-encoding');
      if (encoding !== undefined && encoding !== 'identity') {
        return { code: Status.UNIMPLEMENTED, details: `grpc: compression "${encoding}" is not supported` };
      }
      return { code: error.code, details: error.details };
    }
    if (error instanceof GrpcStatusError) return { code: error.code, details: error.details };
    return { code: Status.INTERNAL, details: 'grpc: failed to read the request' };
  }

  private metadataHeader(name: string): string | undefined {
    const raw = this.headers[name];
    return typeof raw === 'string' ? raw : undefined;
  }

  private onMessage(bytes: Buffer): void {
    let message: unknown;
    try {
      message = this.method.definition.requestDeserialize(bytes);
    } catch {
      this.abort({ code: Status.INTERNAL, details: 'grpc: error deserializing the request' });
      return;
    }
    if (this.method.kind === 'bidi') {
      this.deliver('data', message);
      return;
    }
    if (this.gotRequest) {
      this.abort({
        code: Status.INTERNAL,
        details: 'grpc: more than one request message for a unary request',
      });
      return;
    }
    this.gotRequest = true;
    this.request = message;
  }

  private onEnd(): void {
    if (this.state !== 'open') return;
    if (this.decoder.partial) {
      this.abort({ code: Status.INTERNAL, details: 'grpc: the request ended inside a message' });
      return;
    }
    if (this.method.kind === 'bidi') {
      this.deliver('end');
      return;
    }
    if (!this.gotRequest) {
      this.abort({ code: Status.INTERNAL, details: 'grpc: no request message for a unary request' });
      return;
    }
    this.runHandler();
  }

  /** An event to the handler's listeners; a listener that throws fails the call, not the process. */
  private deliver(event: 'data' | 'end', message?: unknown): void {
    try {
      this.emit(event, message);
    } catch (error) {
      this.logger?.error('grpc handler threw', { path: this.getPath(), event, error });
      this.finish({ code: Status.UNKNOWN, details: 'grpc: the method handler failed' });
      this.markCancelled();
    }
  }

  private runHandler(): void {
    assert(!this.handlerStarted, 'a call runs its handler once');
    this.handlerStarted = true;
    try {
      if (this.method.kind === 'unary') {
        this.method.handler(this, (error: ServiceErrorLike | null, value?: unknown) =>
          this.onUnaryResult(error, value),
        );
      } else {
        this.method.handler(this);
      }
    } catch (error) {
      this.logger?.error('grpc handler threw', { path: this.getPath(), error });
      this.finish({ code: Status.UNKNOWN, details: 'grpc: the method handler failed' });
    }
  }

  private onUnaryResult(error: ServiceErrorLike | null, value: unknown): void {
    if (this.state !== 'open') return;
    if (error) {
      this.finish(statusOf(error));
      return;
    }
    this.write(value);
    this.finish({ code: Status.OK, details: '' });
  }

  // ---------------------------------------------------------------- responses

  write(message: unknown): boolean {
    if (this.state !== 'open') return true;
    let frame: Buffer;
    try {
      frame = frameMessage(this.method.definition.responseSerialize(message));
    } catch (error) {
      this.logger?.error('grpc response not serializable', { path: this.getPath(), error });
      this.finish(
        error instanceof GrpcStatusError
          ? { code: error.code, details: error.details }
          : { code: Status.INTERNAL, details: 'grpc: error serializing the response' },
      );
      return true;
    }
    if (!this.sendHeaders()) return true;
    if (frame.length <= WRITE_SLICE_BYTES) this.backlog.push(frame);
    else
      for (let at = 0; at < frame.length; at += WRITE_SLICE_BYTES)
        this.backlog.push(frame.subarray(at, at + WRITE_SLICE_BYTES));
    this.pump();
    const room = this.backlog.length === 0 && this.inFlight < CALL_WRITE_BUFFER_BYTES;
    if (!room) this.needDrain = true;
    return room;
  }

  end(): void {
    this.finish({ code: Status.OK, details: '' });
  }

  /** Response headers, once; false when the stream is gone. */
  private sendHeaders(): boolean {
    if (this.headersSent) return true;
    if (this.stream.destroyed || this.stream.closed) {
      this.onClose();
      return false;
    }
    this.headersSent = true;
    if (!this.guard(() => this.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true }))) {
      this.onClose();
      return false;
    }
    return true;
  }

  /**
   * Run an HTTP/2 operation that throws when the stream or its session went away between our
   * check and the call (Node's ERR_HTTP2_INVALID_STREAM and the like); false if it threw.
   */
  private guard(operation: () => void): boolean {
    try {
      operation();
      return true;
    } catch (error) {
      this.logger?.debug('grpc stream gone', { path: this.getPath(), error });
      return false;
    }
  }

  /** Hand slices to the stream while the call's write buffer has room. */
  private pump(): void {
    while (this.backlog.length > 0 && this.inFlight < CALL_WRITE_BUFFER_BYTES) {
      if (this.stream.destroyed) {
        this.backlog.length = 0;
        return;
      }
      const slice = this.backlog.shift()!;
      this.inFlight += slice.length;
      this.stream.write(slice, () => this.onFlushed(slice.length));
    }
  }

  private onFlushed(bytes: number): void {
    this.inFlight -= bytes;
    if (this.state === 'done') return;
    this.pump();
    if (this.backlog.length > 0) return;
    if (this.state === 'ending') {
      this.endStream();
      return;
    }
    if (this.needDrain && this.inFlight < CALL_WRITE_BUFFER_BYTES) {
      this.needDrain = false;
      this.emit('drain');
    }
  }

  /** The call failed on the server's side of the protocol: end it and tell the handler. */
  private abort(status: StatusObject): void {
    if (this.state !== 'open') return;
    this.finish(status);
    if (this.handlerStarted) this.markCancelled();
  }

  private onDeadline(): void {
    this.deadlineTimer = undefined;
    if (this.state !== 'open') return;
    this.finish({ code: Status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
    this.markCancelled();
  }

  private markCancelled(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.emit('cancelled', 'cancelled');
  }

  /** Decide the final status; it goes out after the messages already written. */
  private finish(status: StatusObject): void {
    if (this.state !== 'open') return;
    this.state = 'ending';
    if (this.deadlineTimer) {
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = undefined;
    }
    this.finalStatus = status;
    if (this.stream.destroyed || this.stream.closed) {
      this.onClose();
      return;
    }
    if (!this.headersSent) {
      // Trailers-only: one HEADERS frame carrying the status and END_STREAM.
      this.headersSent = true;
      const sent = this.guard(() =>
        this.stream.respond({ ...RESPONSE_HEADERS, ...statusHeaders(status) }, { endStream: true }),
      );
      if (sent) this.stopReading();
      else this.onClose();
      return;
    }
    if (this.backlog.length === 0) this.endStream();
  }

  private endStream(): void {
    if (!this.stream.destroyed && !this.stream.writableEnded) this.guard(() => this.stream.end());
  }

  private sendTrailers(): void {
    const status = this.finalStatus ?? { code: Status.OK, details: '' };
    if (this.stream.destroyed || this.stream.closed) return;
    // No RST_STREAM after trailers: Node may put it on the wire before them, and the client would
    // then see a reset instead of the status. Clients reset or end the stream once they have it.
    this.guard(() => this.stream.sendTrailers(statusHeaders(status)));
  }

  /**
   * After a trailers-only response, a client still sending is told to stop with
   * RST_STREAM(NO_ERROR), as grpc-go does. Node sends it once the response HEADERS are out.
   */
  private stopReading(): void {
    if (!this.stream.readableEnded && !this.stream.destroyed) {
      this.guard(() => this.stream.close(NGHTTP2_NO_ERROR));
    }
  }

  private onClose(): void {
    this.decoder.release();
    if (this.state === 'done') return;
    const wasOpen = this.state === 'open';
    this.state = 'done';
    this.backlog.length = 0;
    if (this.deadlineTimer) {
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = undefined;
    }
    if (wasOpen && this.handlerStarted) this.markCancelled();
    else if (wasOpen) this.cancelled = true;
    this.emit('close');
  }
}

export function statusHeaders(status: StatusObject): Record<string, string | number> {
  if (status.details === '') return { 'grpc-status': status.code };
  return { 'grpc-status': status.code, 'grpc-message': encodeGrpcMessage(status.details) };
}

export type { StatusCode };
