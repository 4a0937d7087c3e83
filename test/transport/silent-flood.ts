/**
 * An attacker's flood of silent sockets: `count` TCP connections to host:port that never send a
 * byte (so each sits in the server's TLS handshake), each re-opened at once when the server closes
 * it. One in five comes from `heavy`, the rest spread over `sourcePrefix`.1..`sources`, so both the
 * per-source and the total caps are exercised. Opened `rampMs` apart, so that handshake timeouts
 * free slots one at a time and each is refilled at once. Loopback only; stop() ends it.
 */
import { type Socket, connect as tcpConnect } from 'node:net';

export interface SilentFloodOptions {
  readonly count: number;
  /** e.g. '127.0.41': the sources are <prefix>.1 .. <prefix>.<sources>. */
  readonly sourcePrefix: string;
  readonly sources: number;
  /** The one address that opens a fifth of the sockets. */
  readonly heavy: string;
  readonly rampMs: number;
}

export function silentFlood(host: string, port: number, o: SilentFloodOptions): { stop(): void } {
  const sockets = new Set<Socket>();
  let running = true;
  const open = (i: number) => {
    if (!running) return;
    const localAddress = i % 5 === 0 ? o.heavy : `${o.sourcePrefix}.${1 + (i % o.sources)}`;
    const socket = tcpConnect({ host, port, localAddress });
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => {
      sockets.delete(socket);
      // Re-open at once, as an attacker would; bounded by `running`.
      setImmediate(() => open(i));
    });
  };
  for (let i = 0; i < o.count; i++) setTimeout(() => open(i), i * o.rampMs).unref();
  return {
    stop() {
      running = false;
      for (const s of sockets) s.destroy();
    },
  };
}
