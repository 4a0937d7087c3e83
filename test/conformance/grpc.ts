/**
 * Plain grpc-js clients of the etcd v3 services, built from the project's .proto files
 * (src/datastore/etcd/proto), for request shapes the etcd3 client does not expose (watch progress,
 * watch filters by number, keep-alive streams) and for exact gRPC codes of errors.
 * Decoding: keepCase, int64 as decimal strings, bytes as Buffer, enums as numbers, defaults set.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LOADER_OPTIONS, protoDir } from '../../src/datastore/etcd/proto.js';

// biome-ignore lint/suspicious/noExplicitAny: generic gRPC clients and messages are untyped
export type Msg = any;

const CALL_TIMEOUT_MS = 10_000;

let pkg: Msg;
function etcdPackage(): Msg {
  pkg ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(['rpc.proto', 'health.proto'], { ...LOADER_OPTIONS, includeDirs: [protoDir()] }),
  );
  return pkg;
}

export interface RawClient {
  /** host:port */
  readonly target: string;
  readonly kv: Msg;
  readonly watch: Msg;
  readonly lease: Msg;
  readonly cluster: Msg;
  readonly maintenance: Msg;
  close(): void;
}

/** One channel to one member; `endpoint` is http://HOST:PORT or HOST:PORT. */
export function rawClient(endpoint: string): RawClient {
  const target = endpoint.replace(/^https?:\/\//, '');
  const p = etcdPackage();
  const creds = grpc.credentials.createInsecure();
  const options: grpc.ChannelOptions = { 'grpc.max_receive_message_length': -1 };
  const kv = new p.etcdserverpb.KV(target, creds, options);
  const shared = { ...options, channelOverride: kv.getChannel() };
  return {
    target,
    kv,
    watch: new p.etcdserverpb.Watch(target, creds, shared),
    lease: new p.etcdserverpb.Lease(target, creds, shared),
    cluster: new p.etcdserverpb.Cluster(target, creds, shared),
    maintenance: new p.etcdserverpb.Maintenance(target, creds, shared),
    close: () => kv.close(),
  };
}

/** A unary call: resolves with the response, rejects with the grpc ServiceError. */
export function unary(
  service: Msg,
  method: string,
  request: unknown,
  timeoutMs = CALL_TIMEOUT_MS,
): Promise<Msg> {
  return new Promise((resolve, reject) => {
    service[method](
      request,
      { deadline: Date.now() + timeoutMs },
      (error: grpc.ServiceError | null, response: Msg) => (error ? reject(error) : resolve(response)),
    );
  });
}

/** A bidirectional stream read through a queue: `next` waits (bounded) for the next message. */
export class Duplex {
  private readonly queue: Msg[] = [];
  private waiters: ((m: Msg | undefined) => void)[] = [];
  error: grpc.ServiceError | undefined;
  ended = false;

  constructor(private readonly call: grpc.ClientDuplexStream<Msg, Msg>) {
    call.on('data', (m: Msg) => {
      const w = this.waiters.shift();
      if (w) w(m);
      else this.queue.push(m);
    });
    const finish = () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w(undefined);
    };
    call.on('error', (e: grpc.ServiceError) => {
      this.error = e;
      finish();
    });
    call.on('end', finish);
  }

  write(message: unknown): void {
    this.call.write(message);
  }

  /** The next message, or undefined if none comes within `timeoutMs` (or the stream ended). */
  next(timeoutMs: number): Promise<Msg | undefined> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(undefined);
      }, timeoutMs);
      const waiter = (m: Msg | undefined) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push(waiter);
    });
  }

  /** Every message that arrives within `ms` (for "nothing more comes" checks). */
  async drain(ms: number): Promise<Msg[]> {
    const out: Msg[] = [];
    const deadline = Date.now() + ms;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const m = await this.next(left);
      if (m === undefined) break;
      out.push(m);
    }
    return out;
  }

  close(): void {
    this.call.cancel();
  }
}

export function watchStream(client: RawClient): Duplex {
  return new Duplex(client.watch.Watch());
}

export function keepAliveStream(client: RawClient): Duplex {
  return new Duplex(client.lease.LeaseKeepAlive());
}
