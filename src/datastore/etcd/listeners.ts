/**
 * Where the etcd API listens, and the policy for it:
 *  - a unix socket, for the kube-apiserver on the same node (mode 0600 by default);
 *  - TCP with TLS and client certificates (required and verified against the CA), for remote
 *    clients;
 *  - plain TCP only on a loopback address: anything else without TLS is MK_INVALID_CONFIG.
 * The sockets are ours (net/tls servers); each accepted connection is handed to the gRPC server
 * through the :authority rewriter (see authority.ts).
 */
import { chmodSync, lstatSync, rmSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { ConnectionAdmission } from '../../lib/connection-admission.js';
import { MicroK8sError } from '../../lib/errors.js';

export interface TlsMaterial {
  /** PEM contents (not paths). */
  readonly ca: string | Buffer;
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

export interface TcpListenOptions {
  readonly host: string;
  readonly port: number;
  readonly tls?: TlsMaterial;
}

export interface ListenOptions {
  readonly unixSocket?: string;
  /** File mode of the unix socket (default 0o600). */
  readonly unixSocketMode?: number;
  readonly tcp?: TcpListenOptions;
}

export interface BoundListener {
  readonly kind: 'unix' | 'tcp' | 'tls';
  /** The socket path (unix). */
  readonly path?: string;
  readonly host?: string;
  /** The bound port (tcp, tls); useful with port 0. */
  readonly port?: number;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** A literal loopback address, or "localhost" (whose bound address is checked after listening). */
export function isLoopbackHost(host: string): boolean {
  const h = stripBrackets(host).toLowerCase();
  if (h === 'localhost') return true;
  const family = net.isIP(h);
  if (family === 4) return h.startsWith('127.');
  if (family === 6) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped !== null && mapped[1]!.startsWith('127.');
  }
  return false;
}

/** Refuse a listener the policy forbids, before binding anything. */
export function checkListenPolicy(options: ListenOptions): void {
  if (options.unixSocket === undefined && options.tcp === undefined) {
    throw new MicroK8sError('MK_INVALID_CONFIG', 'etcd listen: give a unix socket or a TCP address');
  }
  if (options.unixSocket !== undefined && options.unixSocket.length === 0) {
    throw new MicroK8sError('MK_INVALID_CONFIG', 'etcd listen: the unix socket path is empty');
  }
  const tcp = options.tcp;
  if (tcp === undefined) return;
  if (!Number.isInteger(tcp.port) || tcp.port < 0 || tcp.port > 65535) {
    throw new MicroK8sError('MK_INVALID_CONFIG', `etcd listen: port must be 0..65535, got ${tcp.port}`);
  }
  if (tcp.tls === undefined && !isLoopbackHost(tcp.host)) {
    throw new MicroK8sError(
      'MK_INVALID_CONFIG',
      `etcd listen: plain TCP is only allowed on a loopback address, got '${tcp.host}'; use TLS with client certificates`,
      { host: tcp.host },
    );
  }
  if (tcp.tls !== undefined && (!tcp.tls.ca || !tcp.tls.cert || !tcp.tls.key)) {
    throw new MicroK8sError(
      'MK_INVALID_CONFIG',
      'etcd listen: TLS needs the CA, the certificate and the key',
    );
  }
}

function listening(server: net.Server, where: string, bind: (server: net.Server) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => {
      server.off('listening', onListening);
      const code = (error as { code?: string }).code;
      reject(
        new MicroK8sError('MK_INVALID_CONFIG', `etcd listen: cannot listen on ${where}: ${error.message}`, {
          address: where,
          ...(code ? { errno: code } : {}),
        }),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    bind(server);
  });
}

/** Whether something answers on a unix socket path. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/** Remove a stale socket file left by a crash; refuse a live socket or any other file. */
export async function clearStaleSocket(path: string): Promise<void> {
  let stat: ReturnType<typeof lstatSync> | undefined;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) {
    throw new MicroK8sError('MK_INVALID_CONFIG', `etcd listen: ${path} exists and is not a socket`, { path });
  }
  if (await socketAnswers(path)) {
    throw new MicroK8sError('MK_INVALID_CONFIG', `etcd listen: ${path} is in use by another process`, {
      path,
    });
  }
  rmSync(path, { force: true });
}

export interface ListenerHandle {
  readonly bound: BoundListener;
  readonly server: net.Server;
  close(): Promise<void>;
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise<void>((resolve) => server.close(() => resolve()));
}

export async function listenUnix(
  path: string,
  mode: number,
  onConnection: (socket: net.Socket) => void,
): Promise<ListenerHandle> {
  await clearStaleSocket(path);
  const server = net.createServer({ pauseOnConnect: false }, onConnection);
  await listening(server, path, (s) => s.listen(path));
  try {
    chmodSync(path, mode);
  } catch (error) {
    await closeServer(server);
    throw new MicroK8sError(
      'MK_INVALID_CONFIG',
      `etcd listen: cannot set the mode of ${path}: ${(error as Error).message}`,
    );
  }
  return {
    bound: { kind: 'unix', path },
    server,
    close: async () => {
      await closeServer(server);
      rmSync(path, { force: true });
    },
  };
}

/** What bounds the TCP port: the admission of accepted sockets and the TLS handshake time. */
export interface TcpGuard {
  readonly admission: ConnectionAdmission;
  readonly tlsHandshakeTimeoutMs: number;
}

export async function listenTcp(
  options: TcpListenOptions,
  onConnection: (socket: net.Socket) => void,
  onTlsError: (error: Error, refusedByAdmission: boolean) => void,
  guard: TcpGuard,
): Promise<ListenerHandle> {
  const host = stripBrackets(options.host);
  let server: net.Server;
  if (options.tls) {
    const secure = tls.createServer(
      {
        ca: options.tls.ca,
        cert: options.tls.cert,
        key: options.tls.key,
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2'],
        minVersion: 'TLSv1.2',
        handshakeTimeout: guard.tlsHandshakeTimeoutMs,
      },
      onConnection,
    );
    // After the TLS layer's own 'connection' listener: a refused socket is closed before any
    // handshake work.
    guard.admission.attach(secure);
    secure.on('tlsClientError', (error, socket) => {
      // With a listener, Node leaves a failed (or timed-out) handshake's socket open: close it.
      socket.destroy();
      const parent = (socket as unknown as { _parent?: net.Socket })._parent;
      onTlsError(error, guard.admission.wasRefused(parent));
    });
    server = secure;
  } else {
    server = net.createServer((socket) => {
      if (guard.admission.admit(socket)) onConnection(socket);
    });
  }
  await listening(server, `${options.host}:${options.port}`, (s) => s.listen(options.port, host));
  const address = server.address();
  if (address === null || typeof address === 'string') {
    await closeServer(server);
    throw new MicroK8sError('MK_INVALID_CONFIG', `etcd listen: no TCP address for ${options.host}`);
  }
  if (!options.tls && !isLoopbackHost(address.address)) {
    // "localhost" resolved to something that is not loopback.
    await closeServer(server);
    throw new MicroK8sError(
      'MK_INVALID_CONFIG',
      `etcd listen: ${options.host} resolved to ${address.address}, which is not a loopback address`,
    );
  }
  return {
    bound: { kind: options.tls ? 'tls' : 'tcp', host: address.address, port: address.port },
    server,
    close: () => closeServer(server),
  };
}
