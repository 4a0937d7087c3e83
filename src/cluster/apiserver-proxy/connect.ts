/**
 * A bounded TCP connect, used both by health checks and to open a client's upstream connection.
 * The outgoing socket binds to the node's own address when one is given: on a machine with
 * several addresses (and in tests on 127.x.y.z) the kernel would otherwise pick the source, and
 * firewall rules written for the node's address would miss the traffic.
 */
import { connect, type Socket } from 'node:net';
import type { Endpoint } from './upstreams.js';

export interface ConnectOptions {
  readonly timeoutMs: number;
  readonly localAddress?: string;
  /** Aborts the attempt (the client went away meanwhile). */
  readonly signal?: AbortSignal;
}

/** Resolves with a connected socket (half-open allowed, so each side's end is forwarded), or rejects. */
export function connectUpstream(target: Endpoint, options: ConnectOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: target.host,
      port: target.port,
      allowHalfOpen: true,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    const fail = (error: Error) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(error);
    };
    const onAbort = () => fail(new Error('aborted'));
    const timer = setTimeout(
      () => fail(new Error(`connect timed out after ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', fail);
      resolve(socket);
    });
  });
}

/** A health check: can a TCP connection be opened in time? Resolves with the failure, if any. */
export async function probe(target: Endpoint, options: ConnectOptions): Promise<string | undefined> {
  try {
    const socket = await connectUpstream(target, options);
    socket.destroy();
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code ?? (error as Error).message;
  }
}
