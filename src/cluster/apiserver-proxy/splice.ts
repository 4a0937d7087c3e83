/**
 * Joins a client connection to its upstream connection, both ways, and closes them cleanly.
 * Each direction is a pipe, so backpressure holds (a slow reader slows the writer, nothing is
 * buffered without bound) and an end (FIN) is passed on as an end: a client that has sent its
 * request and half-closed still gets the whole answer. An error on either side cuts both. Once
 * one side has closed, the other gets a bounded time to finish writing, then it is cut too.
 */
import type { Socket } from 'node:net';

export interface SpliceOptions {
  readonly lingerMs: number;
  /** Called once, when both sockets are closed. */
  readonly onClose: (error?: Error) => void;
}

export interface Splice {
  /** Cut both sides now (the proxy is stopping). */
  destroy(): void;
}

export function splice(client: Socket, upstream: Socket, options: SpliceOptions): Splice {
  let firstError: Error | undefined;
  let closed = 0;
  let linger: NodeJS.Timeout | undefined;
  const destroy = () => {
    client.destroy();
    upstream.destroy();
  };
  const onError = (error: Error) => {
    firstError ??= error;
    destroy();
  };
  const onClose = (other: Socket) => () => {
    closed++;
    if (closed === 2) {
      clearTimeout(linger);
      options.onClose(firstError);
      return;
    }
    // The other side may still be flushing what it was given; bound how long that may take.
    other.end();
    linger = setTimeout(() => other.destroy(), options.lingerMs);
    linger.unref();
  };
  client.on('error', onError);
  upstream.on('error', onError);
  client.once('close', onClose(upstream));
  upstream.once('close', onClose(client));
  client.pipe(upstream);
  upstream.pipe(client);
  return { destroy };
}
