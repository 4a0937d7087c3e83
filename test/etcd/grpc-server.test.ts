/**
 * Our gRPC server (src/datastore/etcd/grpc) on its own: a JSON-coded test service served over
 * loopback 127.0.62.x, grpc-js as the real client, raw node:http2 and raw bytes for traffic no
 * gRPC client sends. Every wait is bounded; nothing here depends on how fast things run.
 */
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  GrpcServer,
  type MethodDefinition,
  parseGrpcTimeout,
  type ServerDuplexCall,
  type ServerUnaryCall,
  type ServerWritableCall,
  Status,
  type UnaryCallback,
} from '../../src/datastore/etcd/grpc/index.js';
import { GrpcStatusError } from '../../src/datastore/etcd/grpc/status.js';
import { unaryCall } from '../../src/datastore/etcd/grpc/unary-client.js';
import type { MicroK8sError } from '../../src/lib/errors.js';

const HOST = '127.0.62.1';
const MAX_RECEIVE = 64 * 1024;
const WAIT_MS = 5000;

// biome-ignore lint/suspicious/noExplicitAny: test messages are plain JSON
type Msg = any;

const toJson = (value: unknown) => Buffer.from(JSON.stringify(value));
const fromJson = (bytes: Buffer) => JSON.parse(bytes.toString('utf8'));

function method(service: string, name: string, requestStream: boolean, responseStream: boolean) {
  return {
    path: `/${service}/${name}`,
    requestStream,
    responseStream,
    requestSerialize: toJson,
    requestDeserialize: fromJson,
    responseSerialize: toJson,
    responseDeserialize: fromJson,
    originalName: name,
  } satisfies MethodDefinition & Record<string, unknown>;
}

/** Missing has no handler on the server; the client knows it. */
const ECHO = {
  Unary: method('test.Echo', 'Unary', false, false),
  Stream: method('test.Echo', 'Stream', false, true),
  Chat: method('test.Echo', 'Chat', true, true),
  Hang: method('test.Echo', 'Hang', false, false),
  Throws: method('test.Echo', 'Throws', false, false),
  Missing: method('test.Echo', 'Missing', false, false),
};
const OTHER = { Call: method('test.Other', 'Call', false, false) };

/** What the handlers saw, for the assertions. */
const seen = new EventEmitter();
let hangCallbacks: UnaryCallback[] = [];
const lastCall: { chat?: ServerDuplexCall<Msg, Msg>; stream?: ServerWritableCall<Msg, Msg> } = {};

function handlers() {
  return {
    Unary: (call: ServerUnaryCall<Msg>, callback: UnaryCallback) => {
      const req = call.request;
      if (req.fail) {
        callback({ code: req.fail, details: req.details });
        return;
      }
      if (req.throwPlain) {
        callback(new Error('plain error') as never);
        return;
      }
      callback(null, {
        echo: req.text,
        tag: call.metadata.get('x-tag'),
        bin: (call.metadata.get('x-data-bin') as Buffer[]).map((b) => b.toString('hex')),
        pad: req.size ? 'x'.repeat(req.size) : undefined,
      });
    },
    Stream: (call: ServerWritableCall<Msg, Msg>) => {
      lastCall.stream = call;
      const { count, size, fail } = call.request;
      let writesRefused = 0;
      let drains = 0;
      let i = 0;
      const pump = () => {
        while (i < count) {
          const ok = call.write({ i, pad: 'y'.repeat(size ?? 0) });
          i++;
          if (!ok) {
            writesRefused++;
            seen.emit('stream-full', writesRefused);
            return;
          }
        }
        seen.emit('stream-written', { writesRefused, drains });
        if (fail) call.emit('error', { code: fail, details: 'stream failed' });
        else if (!call.request.keepOpen) call.end();
      };
      call.on('drain', () => {
        drains++;
        pump();
      });
      call.on('cancelled', () => seen.emit('stream-cancelled', call.cancelled));
      call.on('close', () => seen.emit('stream-close'));
      pump();
    },
    Chat: (call: ServerDuplexCall<Msg, Msg>) => {
      lastCall.chat = call;
      const events: string[] = [];
      call.on('data', (m: Msg) => {
        events.push('data');
        if (m.fail) call.emit('error', { code: m.fail, details: m.details ?? '' });
        else call.write({ echo: m.text, hasleader: call.metadata.get('hasleader') });
      });
      call.on('end', () => {
        events.push('end');
        // Clients that cancel may half-close first (grpc-js does): "x-stay" keeps the stream open.
        if (call.metadata.get('x-stay').length > 0) return;
        call.write({ echo: 'bye' });
        call.end();
      });
      call.on('cancelled', () => {
        events.push('cancelled');
        // Dropped, not thrown: the call is gone.
        seen.emit('chat-write-after-cancel', call.write({ echo: 'late' }));
      });
      call.on('close', () => {
        events.push('close');
        seen.emit('chat-closed', { events, cancelled: call.cancelled });
      });
    },
    Hang: (_call: ServerUnaryCall<Msg>, callback: UnaryCallback) => {
      hangCallbacks.push(callback);
      seen.emit('hang');
    },
    Throws: () => {
      throw new Error('handler bug');
    },
  };
}

function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

function once<T = unknown>(emitter: EventEmitter, event: string, what = event): Promise<T> {
  return within(new Promise<T>((resolve) => emitter.once(event, (v: T) => resolve(v))), what);
}

interface Served {
  readonly server: GrpcServer;
  readonly address: string;
  readonly port: number;
  readonly sockets: Set<net.Socket>;
  close(): Promise<void>;
}

async function serve(
  host: string,
  options: Partial<ConstructorParameters<typeof GrpcServer>[0]> = {},
): Promise<Served> {
  const server = new GrpcServer({
    maxReceiveMessageBytes: MAX_RECEIVE,
    keepaliveTimeMs: 60 * 60 * 1000,
    keepaliveTimeoutMs: 20_000,
    ...options,
  });
  const { Missing: _missing, ...served } = ECHO;
  server.addService(served, handlers());
  const sockets = new Set<net.Socket>();
  const listener = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    server.injectConnection(socket);
  });
  await new Promise<void>((resolve) => listener.listen(0, host, resolve));
  const port = (listener.address() as net.AddressInfo).port;
  return {
    server,
    address: `${host}:${port}`,
    port,
    sockets,
    close: async () => {
      server.forceShutdown();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: generic clients are untyped
type AnyClient = any;
const EchoClient = grpc.makeGenericClientConstructor(ECHO, 'Echo');
const OtherClient = grpc.makeGenericClientConstructor(OTHER, 'Other');

function unary(
  client: AnyClient,
  name: string,
  request: unknown,
  metadata = new grpc.Metadata(),
): Promise<Msg> {
  return within(
    new Promise((resolve, reject) => {
      client[name](
        request,
        metadata,
        { deadline: Date.now() + WAIT_MS },
        (error: grpc.ServiceError | null, value: Msg) => (error ? reject(error) : resolve(value)),
      );
    }),
    `${name} answer`,
  );
}

async function failure(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('expected the call to fail');
}

interface RawResult {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  body: Buffer;
  rstCode: number | undefined;
}

/** One request over raw HTTP/2; resolves when the stream closes. */
function raw(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer | undefined,
  endStream = true,
): Promise<RawResult> {
  return within(
    new Promise<RawResult>((resolve) => {
      const req = session.request({
        ':method': 'POST',
        'content-type': 'application/grpc',
        te: 'trailers',
        ...headers,
      });
      const result: RawResult = {
        headers: {},
        trailers: undefined,
        body: Buffer.alloc(0),
        rstCode: undefined,
      };
      const chunks: Buffer[] = [];
      req.on('response', (h) => {
        result.headers = h;
      });
      req.on('trailers', (t) => {
        result.trailers = t;
      });
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('error', () => {});
      req.on('close', () => {
        result.body = Buffer.concat(chunks);
        result.rstCode = req.rstCode;
        resolve(result);
      });
      if (body) req.write(body);
      if (endStream) req.end();
    }),
    `raw ${String(headers[':path'])}`,
  );
}

function framed(payload: Buffer, flag = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

function connect(address: string): http2.ClientHttp2Session {
  const session = http2.connect(`http://${address}`);
  session.on('error', () => {});
  return session;
}

let s: Served;
let client: AnyClient;

test.before(async () => {
  s = await serve(HOST);
  client = new EchoClient(s.address, grpc.credentials.createInsecure());
});

test.after(async () => {
  client.close();
  await s.close();
});

// ------------------------------------------------------------------ calls

test('unary: response, metadata as arrays (text and -bin), errors with percent-encoded details', async () => {
  const md = new grpc.Metadata();
  md.set('x-tag', 'blue');
  md.set('x-data-bin', Buffer.from([0, 1, 0xfe]));
  const r = await unary(client, 'Unary', { text: 'hello' }, md);
  assert.equal(r, { echo: 'hello', tag: ['blue'], bin: ['0001fe'] });
  const details = 'etcdserver: 100% wrong — ünïcode\nline two';
  const e = await failure(unary(client, 'Unary', { fail: Status.OUT_OF_RANGE, details }));
  assert.is(e.code, grpc.status.OUT_OF_RANGE);
  assert.is(e.details, details);
  const plain = await failure(unary(client, 'Unary', { throwPlain: true }));
  assert.equal([plain.code, plain.details], [grpc.status.UNKNOWN, 'plain error']);
  const threw = await failure(unary(client, 'Throws', {}));
  assert.is(threw.code, grpc.status.UNKNOWN);
  // A large response (sliced on the way out) arrives whole.
  const big = await unary(client, 'Unary', { text: 'big', size: 3 * 1024 * 1024 });
  assert.is(big.pad.length, 3 * 1024 * 1024);
});

test('errors before any message are trailers-only; responses are headers, messages, trailers', async () => {
  const session = connect(s.address);
  try {
    const bad = await raw(
      session,
      { ':path': '/test.Echo/Unary' },
      framed(toJson({ fail: Status.NOT_FOUND, details: 'nope 100%' })),
    );
    assert.is(bad.headers[':status'], 200);
    assert.is(bad.headers['content-type'], 'application/grpc');
    assert.is(bad.headers['grpc-status'], String(Status.NOT_FOUND));
    assert.is(bad.headers['grpc-message'], 'nope 100%25');
    assert.is(bad.trailers, undefined, 'no separate trailers');
    assert.is(bad.body.length, 0);
    const ok = await raw(session, { ':path': '/test.Echo/Unary' }, framed(toJson({ text: 'x' })));
    assert.is(ok.headers[':status'], 200);
    assert.is(ok.headers['grpc-status'], undefined);
    assert.is(ok.trailers?.['grpc-status'], '0');
    assert.is(ok.body[0], 0, 'not compressed');
    assert.is(ok.body.readUInt32BE(1), ok.body.length - 5);
    assert.equal(fromJson(ok.body.subarray(5)).echo, 'x');
  } finally {
    session.close();
  }
});

test('server streaming: every message, then the status; an error status after messages', async () => {
  const got: Msg[] = [];
  const stream = client.Stream({ count: 5, size: 10 });
  stream.on('data', (m: Msg) => got.push(m.i));
  const status = await within(new Promise<grpc.StatusObject>((r) => stream.on('status', r)), 'status');
  assert.equal(got, [0, 1, 2, 3, 4]);
  assert.is(status.code, grpc.status.OK);
  const failing = client.Stream({ count: 2, fail: Status.UNAVAILABLE });
  const got2: Msg[] = [];
  failing.on('data', (m: Msg) => got2.push(m.i));
  const e = await within(new Promise<grpc.ServiceError>((r) => failing.on('error', r)), 'error');
  assert.equal([e.code, e.details, got2], [grpc.status.UNAVAILABLE, 'stream failed', [0, 1]]);
});

test('bidi: messages both ways, metadata, half-close ends with OK; emit("error") ends with that status', async () => {
  const md = new grpc.Metadata();
  md.set('hasleader', 'true');
  const chat = client.Chat(md);
  const got: Msg[] = [];
  chat.on('data', (m: Msg) => got.push(m));
  const closed = once<{ events: string[]; cancelled: boolean }>(seen, 'chat-closed');
  chat.write({ text: 'a' });
  chat.write({ text: 'b' });
  chat.end();
  const status = await within(new Promise<grpc.StatusObject>((r) => chat.on('status', r)), 'status');
  assert.is(status.code, grpc.status.OK);
  assert.equal(
    got.map((m) => m.echo),
    ['a', 'b', 'bye'],
  );
  assert.equal(got[0].hasleader, ['true']);
  const info = await closed;
  assert.equal(info, { events: ['data', 'data', 'end', 'close'], cancelled: false });

  const failing = client.Chat();
  failing.write({ text: 'first' });
  failing.write({ fail: Status.UNAVAILABLE, details: 'etcdserver: no leader' });
  const e = await within(new Promise<grpc.ServiceError>((r) => failing.on('error', r)), 'error');
  assert.equal([e.code, e.details], [grpc.status.UNAVAILABLE, 'etcdserver: no leader']);
});

test('a client that cancels: the call sees "cancelled" then "close"; later writes are dropped', async () => {
  const md = new grpc.Metadata();
  md.set('x-stay', '1');
  const chat = client.Chat(md);
  chat.on('error', () => {});
  const first = new Promise((r) => chat.once('data', r));
  chat.write({ text: 'hi' });
  await within(first, 'first echo');
  const closed = once<{ events: string[]; cancelled: boolean }>(seen, 'chat-closed');
  const lateWrite = once<boolean>(seen, 'chat-write-after-cancel');
  chat.cancel();
  const info = await closed;
  assert.is(info.cancelled, true);
  // grpc-js half-closes before it resets, so an 'end' may come first.
  assert.equal(
    info.events.filter((e) => e !== 'end'),
    ['data', 'cancelled', 'close'],
  );
  assert.is(await lateWrite, true, 'dropped, never an exception');
});

test('write() returns false while the client does not read, then "drain"; nothing is lost', async () => {
  const session = connect(s.address);
  try {
    const req = session.request({
      ':method': 'POST',
      ':path': '/test.Echo/Stream',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    req.on('error', () => {});
    const full = once<number>(seen, 'stream-full');
    const written = once<{ writesRefused: number; drains: number }>(seen, 'stream-written');
    req.end(framed(toJson({ count: 400, size: 16 * 1024 })));
    req.pause(); // Read nothing: HTTP/2 flow control holds the server back.
    assert.ok((await full) >= 1, 'write() said the buffer is full');
    const chunks: Buffer[] = [];
    const trailers = new Promise<http2.IncomingHttpHeaders>((r) => req.on('trailers', r));
    req.on('data', (d: Buffer) => chunks.push(d));
    req.resume();
    const result = await written;
    assert.ok(result.drains >= 1, 'drain followed');
    assert.is((await within(trailers, 'trailers'))['grpc-status'], '0');
    await within(new Promise((r) => req.on('close', r)), 'close');
    const body = Buffer.concat(chunks);
    let count = 0;
    for (let at = 0; at < body.length; count++) at += 5 + body.readUInt32BE(at + 1);
    assert.is(count, 400);
  } finally {
    session.close();
  }
});

// ------------------------------------------------------------------ refusals

test('unknown method and unknown service: UNIMPLEMENTED', async () => {
  const e = await failure(unary(client, 'Missing', {}));
  assert.equal(
    [e.code, e.details],
    [grpc.status.UNIMPLEMENTED, 'unknown method Missing for service test.Echo'],
  );
  const other: AnyClient = new OtherClient(s.address, grpc.credentials.createInsecure());
  try {
    const e2 = await failure(unary(other, 'Call', {}));
    assert.equal([e2.code, e2.details], [grpc.status.UNIMPLEMENTED, 'unknown service test.Other']);
  } finally {
    other.close();
  }
});

test('oversized request: RESOURCE_EXHAUSTED, decided from the prefix alone', async () => {
  const e = await failure(unary(client, 'Unary', { text: 'z'.repeat(MAX_RECEIVE + 10) }));
  assert.is(e.code, grpc.status.RESOURCE_EXHAUSTED);
  const session = connect(s.address);
  try {
    // Only a prefix announcing 1 GiB, and the stream left open: the answer comes anyway.
    const prefix = Buffer.from([0, 0x40, 0, 0, 0]);
    const r = await raw(session, { ':path': '/test.Echo/Unary' }, prefix, false);
    assert.is(r.headers['grpc-status'], String(Status.RESOURCE_EXHAUSTED));
    assert.match(String(r.headers['grpc-message']), 'larger than max');
  } finally {
    session.close();
  }
  // Just under the limit is fine.
  const ok = await unary(client, 'Unary', { text: 'z'.repeat(MAX_RECEIVE - 100) });
  assert.is(ok.echo.length, MAX_RECEIVE - 100);
});

test("a connection's partly received requests are bounded: the stream that crosses the budget is refused", async () => {
  const budget = 200 * 1024;
  const small = await serve('127.0.62.6', { receiveBudgetBytes: budget });
  const session = connect(small.address);
  const framed = (payload: Buffer) => {
    const out = Buffer.alloc(5 + payload.length);
    out.writeUInt32BE(payload.length, 1);
    payload.copy(out, 5);
    return out;
  };
  const message = framed(toJson({ text: 'y'.repeat(59_000) }));
  try {
    // Three streams each send all of a ~59 KB message but its last 10 bytes, and stay open.
    const open = [0, 1, 2].map(() => {
      const req = session.request({
        ':method': 'POST',
        ':path': '/test.Echo/Unary',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      req.on('error', () => {});
      req.write(message.subarray(0, message.length - 10));
      return req;
    });
    // A fourth whole message would need more than the budget while they hold theirs: refused.
    const refused = await raw(session, { ':path': '/test.Echo/Unary' }, message);
    assert.is(refused.headers['grpc-status'], String(Status.RESOURCE_EXHAUSTED));
    assert.match(String(refused.headers['grpc-message']), 'partly received requests');
    // Cancelled, the three give their bytes back: the same message on the same connection passes.
    await Promise.all(
      open.map((req) =>
        within(new Promise((r) => req.close(http2.constants.NGHTTP2_CANCEL, () => r(undefined))), 'cancel'),
      ),
    );
    const served = await raw(session, { ':path': '/test.Echo/Unary' }, message);
    assert.is((served.trailers ?? served.headers)['grpc-status'], String(Status.OK));
  } finally {
    session.destroy();
    await small.close();
  }
});

test('compressed flag: INTERNAL without an encoding, UNIMPLEMENTED with one', async () => {
  const session = connect(s.address);
  try {
    const body = framed(toJson({ text: 'x' }), 1);
    const bare = await raw(session, { ':path': '/test.Echo/Unary' }, body);
    assert.is(bare.headers['grpc-status'], String(Status.INTERNAL));
    const gzip = await raw(session, { ':path': '/test.Echo/Unary', 'grpc-encoding': 'gzip' }, body);
    assert.is(gzip.headers['grpc-status'], String(Status.UNIMPLEMENTED));
    const badFlag = await raw(session, { ':path': '/test.Echo/Unary' }, framed(toJson({}), 7));
    assert.is(badFlag.headers['grpc-status'], String(Status.INTERNAL));
  } finally {
    session.close();
  }
});

test('garbage, truncated, missing and extra request messages: INTERNAL; bidi garbage ends the stream', async () => {
  const session = connect(s.address);
  try {
    const status = async (path: string, body: Buffer | undefined) =>
      (await raw(session, { ':path': path }, body)).headers['grpc-status'];
    const internal = String(Status.INTERNAL);
    assert.is(await status('/test.Echo/Unary', framed(Buffer.from('{not json'))), internal);
    assert.is(await status('/test.Echo/Unary', framed(toJson({ text: 'x' })).subarray(0, 8)), internal);
    assert.is(await status('/test.Echo/Unary', Buffer.from([0, 0])), internal);
    assert.is(await status('/test.Echo/Unary', undefined), internal);
    const two = Buffer.concat([framed(toJson({ text: 'a' })), framed(toJson({ text: 'b' }))]);
    assert.is(await status('/test.Echo/Unary', two), internal);
    const closed = once<{ events: string[]; cancelled: boolean }>(seen, 'chat-closed');
    assert.is(await status('/test.Echo/Chat', framed(Buffer.from('\xff'))), internal);
    const info = await closed;
    assert.equal(info, { events: ['cancelled', 'close'], cancelled: true });
  } finally {
    session.close();
  }
  // A message split across many DATA frames is reassembled.
  const parts = connect(s.address);
  try {
    const whole = framed(toJson({ text: 'split' }));
    const result = new Promise<Buffer>((resolve) => {
      const req = parts.request({
        ':method': 'POST',
        ':path': '/test.Echo/Unary',
        'content-type': 'application/grpc',
      });
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('close', () => resolve(Buffer.concat(chunks)));
      let i = 0;
      const next = () => {
        if (i >= whole.length) {
          req.end();
          return;
        }
        req.write(whole.subarray(i, i + 3), () => setImmediate(next));
        i += 3;
      };
      next();
    });
    const body = await within(result, 'split request');
    assert.is(fromJson(body.subarray(5)).echo, 'split');
  } finally {
    parts.close();
  }
});

test('not gRPC: content-type 415, :method 405, malformed grpc-timeout 400 (as grpc-go)', async () => {
  const session = connect(s.address);
  try {
    const json = await raw(
      session,
      { ':path': '/test.Echo/Unary', 'content-type': 'application/json' },
      undefined,
    );
    assert.is(json.headers[':status'], 415);
    assert.is(json.headers['grpc-status'], String(Status.INVALID_ARGUMENT));
    const get = await raw(session, { ':path': '/test.Echo/Unary', ':method': 'GET' }, undefined);
    assert.is(get.headers[':status'], 405);
    assert.is(get.headers['grpc-status'], String(Status.INTERNAL));
    const timeout = await raw(session, { ':path': '/test.Echo/Unary', 'grpc-timeout': '1x' }, undefined);
    assert.is(timeout.headers[':status'], 400);
    // The session is still good.
    const ok = await raw(session, { ':path': '/test.Echo/Unary' }, framed(toJson({ text: 'after' })));
    assert.is(ok.trailers?.['grpc-status'], '0');
  } finally {
    session.close();
  }
  assert.equal(['1S', '250m', '3u', '2H', '99999999H', '123456789S', 'S', '-1S'].map(parseGrpcTimeout), [
    1000,
    250,
    1,
    7_200_000,
    undefined,
    null,
    null,
    null,
  ]);
});

test('grpc-timeout: DEADLINE_EXCEEDED from the server, and the handler sees "cancelled"', async () => {
  const session = connect(s.address);
  try {
    hangCallbacks = [];
    const cancelled = once<boolean>(seen, 'stream-cancelled');
    const r = await raw(
      session,
      { ':path': '/test.Echo/Stream', 'grpc-timeout': '50m' },
      framed(toJson({ count: 1, keepOpen: true })),
    );
    assert.is(r.trailers?.['grpc-status'], String(Status.DEADLINE_EXCEEDED));
    assert.is(await cancelled, true);
  } finally {
    session.close();
  }
});

// ------------------------------------------------------------------ connections

test('keepalive: an idle connection is pinged and stays while it answers', async () => {
  const k = await serve('127.0.62.2', { keepaliveTimeMs: 40, keepaliveTimeoutMs: 2000 });
  const session = connect(k.address);
  try {
    await within(new Promise((r) => session.once('connect', r)), 'connect');
    let pings = 0;
    const pinged = new Promise<void>((resolve) =>
      session.on('ping', () => {
        pings++;
        if (pings === 2) resolve();
      }),
    );
    await within(pinged, 'two server pings');
    assert.not.ok(session.closed || session.destroyed);
    const ok = await raw(session, { ':path': '/test.Echo/Unary' }, framed(toJson({ text: 'alive' })));
    assert.is(ok.trailers?.['grpc-status'], '0');
  } finally {
    session.close();
    await k.close();
  }
});

test('keepalive: a peer that never answers the ping is disconnected', async () => {
  const k = await serve('127.0.62.3', { keepaliveTimeMs: 40, keepaliveTimeoutMs: 100 });
  const socket = net.connect(k.port, '127.0.62.3');
  socket.on('error', () => {});
  try {
    let sawPing = false;
    let buffered = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buffered = Buffer.concat([buffered, d]);
      while (buffered.length >= 9) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < 9 + length) break;
        if (buffered[3] === 0x6 && (buffered[4]! & 0x1) === 0) sawPing = true;
        buffered = buffered.subarray(9 + length);
      }
    });
    const closed = new Promise((r) => socket.once('close', r));
    // The client preface and an empty SETTINGS, then silence: no SETTINGS ack, no PING ack.
    socket.write(
      Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
      ]),
    );
    await within(closed, 'the server closing the connection');
    assert.ok(sawPing, 'the server pinged first');
  } finally {
    socket.destroy();
    await k.close();
  }
});

test('tryShutdown: GOAWAY, calls in flight finish, new connections are refused; then done', async () => {
  const g = await serve('127.0.62.4');
  const c: AnyClient = new EchoClient(g.address, grpc.credentials.createInsecure());
  try {
    hangCallbacks = [];
    const hung = once(seen, 'hang');
    const pending = unary(c, 'Hang', {});
    await hung;
    let done = false;
    const shutdown = new Promise<void>((resolve) =>
      g.server.tryShutdown(() => {
        done = true;
        resolve();
      }),
    );
    const session = connect(g.address);
    await within(new Promise((r) => session.once('close', r)), 'a new connection refused');
    assert.not.ok(done, 'waits for the call in flight');
    hangCallbacks[0]!(null, { late: true });
    assert.equal(await pending, { late: true });
    await within(shutdown, 'shutdown done');
    assert.is(g.server.connections, 0);
  } finally {
    c.close();
    await g.close();
  }
});

test('forceShutdown: open streams are cut and see "cancelled"', async () => {
  const f = await serve('127.0.62.5');
  const c: AnyClient = new EchoClient(f.address, grpc.credentials.createInsecure());
  try {
    const md = new grpc.Metadata();
    md.set('x-stay', '1');
    const chat = c.Chat(md);
    const error = new Promise<grpc.ServiceError>((r) => chat.on('error', r));
    const first = new Promise((r) => chat.once('data', r));
    chat.write({ text: 'hi' });
    await within(first, 'echo');
    const closed = once<{ events: string[]; cancelled: boolean }>(seen, 'chat-closed');
    let done = false;
    f.server.tryShutdown(() => {
      done = true;
    });
    f.server.forceShutdown();
    assert.equal((await closed).cancelled, true);
    assert.is((await within(error, 'client error')).code, grpc.status.UNAVAILABLE);
    await within(
      new Promise<void>((resolve) => {
        const check = () => (done ? resolve() : setTimeout(check, 10));
        check();
      }),
      'the graceful shutdown callback',
    );
  } finally {
    c.close();
    await f.close();
  }
});

test("unaryCall (the agent's client): answer, error status, deadline, no server", async () => {
  const call = (path: string, request: unknown, deadlineMs = WAIT_MS) =>
    unaryCall({ connect: () => net.connect(s.port, HOST), path, request: toJson(request), deadlineMs });
  assert.equal(fromJson(await call(ECHO.Unary.path, { text: 'hi' })).echo, 'hi');
  const failed = await call(ECHO.Unary.path, { fail: Status.NOT_FOUND, details: 'gone: 100%' }).catch(
    (e) => e,
  );
  assert.instance(failed, GrpcStatusError);
  assert.is(failed.code, Status.NOT_FOUND);
  assert.is(failed.details, 'gone: 100%');
  const unknown = await call(ECHO.Missing.path, {}).catch((e) => e);
  assert.is(unknown.code, Status.UNIMPLEMENTED);
  const late = await call(ECHO.Hang.path, {}, 200).catch((e) => e);
  assert.is(late.code, Status.DEADLINE_EXCEEDED);
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, HOST, resolve));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const refused = await unaryCall({
    connect: () => net.connect(port, HOST),
    path: ECHO.Unary.path,
    request: toJson({}),
    deadlineMs: WAIT_MS,
  }).catch((e) => e);
  assert.is(refused.code, Status.UNAVAILABLE);
});

test('unaryCall: an answer without grpc-status is an error; a connection that drops fails at once', async () => {
  const plain = http2.createServer();
  plain.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    if (headers[':path'] === '/x.Y/NoStatus') {
      // A whole message, then END_STREAM on DATA: no trailers, no status.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.end(Buffer.from([0, 0, 0, 0, 2, 0x7b, 0x7d]));
    } else {
      stream.session?.destroy();
    }
  });
  await new Promise<void>((resolve) => plain.listen(0, '127.0.62.7', resolve));
  const port = (plain.address() as net.AddressInfo).port;
  const call = (path: string) =>
    unaryCall({
      connect: () => net.connect(port, '127.0.62.7'),
      path,
      request: toJson({}),
      deadlineMs: WAIT_MS,
    }).catch((e) => e);
  try {
    const noStatus = await call('/x.Y/NoStatus');
    assert.is(noStatus.code, Status.INTERNAL);
    assert.match(noStatus.details, 'without a grpc-status');
    const dropped = await call('/x.Y/Drop');
    assert.is(dropped.code, Status.UNAVAILABLE);
  } finally {
    await new Promise<void>((resolve) => plain.close(() => resolve()));
  }
});

test('addService refuses handlers of unknown methods, paths twice, client streaming', () => {
  const server = new GrpcServer({
    maxReceiveMessageBytes: 1024,
    keepaliveTimeMs: 1000,
    keepaliveTimeoutMs: 1000,
  });
  const code = (fn: () => void) => {
    try {
      fn();
    } catch (error) {
      return (error as MicroK8sError).code;
    }
    return 'none';
  };
  assert.is(
    code(() => server.addService({ Unary: ECHO.Unary }, { Nope: () => {} })),
    'MK_INTERNAL',
  );
  server.addService({ Unary: ECHO.Unary }, { Unary: () => {} });
  assert.is(
    code(() => server.addService({ Unary: ECHO.Unary }, { Unary: () => {} })),
    'MK_INTERNAL',
  );
  const upload = method('test.Up', 'Upload', true, false);
  assert.is(
    code(() => server.addService({ Upload: upload }, { Upload: () => {} })),
    'MK_INTERNAL',
  );
  assert.is(
    code(() => server.addService({ Bad: { ...upload, path: 'no-slash' } }, {})),
    'MK_INTERNAL',
  );
});

test.run();
