/** Shared helpers of the etcd API tests: a server over the single-node LocalBackend, raw clients. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { EtcdServerLimits } from '../../src/datastore/etcd/limits.js';
import { LOADER_OPTIONS, protoDir } from '../../src/datastore/etcd/proto.js';
import { EtcdServer, type ListenOptions } from '../../src/datastore/etcd/server.js';
import { createLogger, type Logger } from '../../src/lib/log.js';
import { LocalBackend, type LocalBackendOptions, quietLogger } from './local-backend.js';

export { quietLogger };

export interface Harness {
  readonly backend: LocalBackend;
  readonly server: EtcdServer;
  /** host:port of the loopback TCP listener. */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startHarness(
  options: {
    limits?: Partial<EtcdServerLimits>;
    backend?: LocalBackendOptions;
    listen?: ListenOptions[];
    logger?: Logger;
  } = {},
): Promise<Harness> {
  const backend = new LocalBackend(options.backend);
  const server = new EtcdServer({ backend, logger: options.logger ?? quietLogger, limits: options.limits });
  const [tcp] = await server.listen({ tcp: { host: '127.0.0.1', port: 0 } });
  for (const extra of options.listen ?? []) await server.listen(extra);
  const port = tcp!.port!;
  return {
    backend,
    server,
    address: `127.0.0.1:${port}`,
    port,
    close: async () => {
      await server.stop();
      backend.close();
    },
  };
}

export function tempDir(prefix = 'mk8s-etcd-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function b(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

// biome-ignore lint/suspicious/noExplicitAny: generic gRPC client constructors are untyped
type AnyClient = any;

export interface RawClients {
  readonly kv: AnyClient;
  readonly watch: AnyClient;
  readonly lease: AnyClient;
  readonly cluster: AnyClient;
  readonly maintenance: AnyClient;
  readonly health: AnyClient;
  close(): void;
}

let packageCache: AnyClient;

function clientPackage(): AnyClient {
  packageCache ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(['rpc.proto', 'health.proto'], { ...LOADER_OPTIONS, includeDirs: [protoDir()] }),
  );
  return packageCache;
}

/** Plain grpc-js clients of every service, on one channel. */
export function rawClients(
  target: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {},
): RawClients {
  const pkg = clientPackage();
  const channelOptions: grpc.ChannelOptions = { 'grpc.max_receive_message_length': -1, ...options };
  const kv = new pkg.etcdserverpb.KV(target, credentials, channelOptions);
  const channel = kv.getChannel();
  const withChannel = { ...channelOptions, channelOverride: channel };
  const clients = {
    kv,
    watch: new pkg.etcdserverpb.Watch(target, credentials, withChannel),
    lease: new pkg.etcdserverpb.Lease(target, credentials, withChannel),
    cluster: new pkg.etcdserverpb.Cluster(target, credentials, withChannel),
    maintenance: new pkg.etcdserverpb.Maintenance(target, credentials, withChannel),
    health: new pkg.grpc.health.v1.Health(target, credentials, withChannel),
  };
  return { ...clients, close: () => kv.close() };
}

/** Call a unary method and resolve with the response or reject with the ServiceError. */
export function call<T = AnyClient>(client: AnyClient, method: string, request: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    client[method](
      request,
      { deadline: Date.now() + 10_000 },
      (error: grpc.ServiceError | null, response: T) => {
        if (error) reject(error);
        else resolve(response);
      },
    );
  });
}

/** Expect a unary call to fail with this gRPC code and message. */
export async function expectError(
  promise: Promise<unknown>,
  code: grpc.status,
  message: string,
): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (error) {
    const e = error as grpc.ServiceError;
    if (e.code !== code || e.details !== message) {
      throw new Error(
        `expected ${grpc.status[code]} "${message}", got ${grpc.status[e.code]} "${e.details}"`,
      );
    }
    return e;
  }
  throw new Error(`expected ${grpc.status[code]} "${message}", but the call succeeded`);
}

/** A debug-level logger that keeps its lines, to check what the server did. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return {
    logger: createLogger('test.etcd', { level: 'debug', sink: { write: (l) => lines.push(l) } }),
    lines,
  };
}

/** Wait until `check` holds, polling; throws after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}
