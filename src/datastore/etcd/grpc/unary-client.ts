/**
 * One unary gRPC call over a fresh HTTP/2 connection, for the cluster agent's calls to its own
 * datastore: a client this small keeps grpc-js (~17 MB of RSS) out of that long-running process.
 * The connection lives for the one call; the deadline bounds connecting, sending and reading.
 */
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { frameMessage, MessageDecoder } from './framing.js';
import { decodeGrpcMessage, GrpcStatusError, isStatusCode, Status } from './status.js';

/** The largest answer read; the agent's calls (Range of one key, MemberList) are far smaller. */
export const UNARY_CLIENT_LIMITS = { maxResponseBytes: 16 * 1024 * 1024 } as const;

export interface UnaryCallOptions {
  /** Opens the transport (a unix socket, a TCP socket). */
  connect: () => Duplex;
  /** "/package.Service/Method". */
  path: string;
  request: Uint8Array;
  deadlineMs: number;
}

/**
 * The response message's bytes; a non-OK status is thrown as GrpcStatusError with the server's
 * code and message, a deadline as DEADLINE_EXCEEDED, a transport failure as UNAVAILABLE.
 */
export function unaryCall(options: UnaryCallOptions): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    let settled = false;
    const session = http2.connect('http://localhost', { createConnection: () => options.connect() });
    const finish = (error: Error | undefined, value?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      if (error) reject(error);
      else resolve(value!);
    };
    const timer = setTimeout(
      () => finish(new GrpcStatusError(Status.DEADLINE_EXCEEDED, 'deadline exceeded')),
      options.deadlineMs,
    );
    session.on('error', (error) => finish(new GrpcStatusError(Status.UNAVAILABLE, error.message)));
    const stream = session.request({
      ':method': 'POST',
      ':path': options.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${Math.max(1, Math.ceil(options.deadlineMs))}m`,
    });
    // The server's framing, read by the same decoder the server reads requests with.
    const decoder = new MessageDecoder(UNARY_CLIENT_LIMITS.maxResponseBytes);
    const messages: Buffer[] = [];
    /** An answer counts only with an OK grpc-status (in the trailers, or trailers-only headers). */
    let statusOk = false;
    stream.on('response', (headers) => {
      if (headers[':status'] !== 200) {
        finish(new GrpcStatusError(Status.UNAVAILABLE, `HTTP status ${headers[':status']} instead of 200`));
        return;
      }
      // A trailers-only answer (an error before any message) carries the status in the headers.
      if (headers['grpc-status'] !== undefined) trailers(headers);
    });
    stream.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, messages);
      } catch (error) {
        finish(error as GrpcStatusError);
      }
    });
    const trailers = (headers: http2.IncomingHttpHeaders) => {
      const code = Number(headers['grpc-status']);
      if (code === Status.OK) statusOk = true;
      else {
        const message = decodeGrpcMessage(String(headers['grpc-message'] ?? ''));
        finish(new GrpcStatusError(isStatusCode(code) ? code : Status.UNKNOWN, message));
      }
    };
    stream.on('trailers', trailers);
    stream.on('error', (error) => finish(new GrpcStatusError(Status.UNAVAILABLE, error.message)));
    let endedWithoutStatus = false;
    stream.on('end', () => {
      if (!statusOk) {
        // Decided on 'close': a dropped connection also ends the stream first.
        endedWithoutStatus = true;
        return;
      }
      if (decoder.partial || messages.length !== 1) {
        finish(
          new GrpcStatusError(Status.INTERNAL, `a unary answer holds ${messages.length} whole messages`),
        );
        return;
      }
      finish(undefined, messages[0]);
    });
    // Closed without 'end' or 'error' (the connection went away): fail now, not at the deadline.
    // After 'end' and 'trailers' this finds the call settled already.
    stream.on('close', () => {
      const clean = stream.rstCode === http2.constants.NGHTTP2_NO_ERROR && !session.destroyed;
      finish(
        endedWithoutStatus && clean
          ? new GrpcStatusError(Status.INTERNAL, 'the stream ended without a grpc-status')
          : new GrpcStatusError(Status.UNAVAILABLE, 'the stream closed before an answer'),
      );
    });
    session.on('close', () =>
      finish(new GrpcStatusError(Status.UNAVAILABLE, 'the connection closed before an answer')),
    );
    stream.end(frameMessage(options.request));
  });
}
