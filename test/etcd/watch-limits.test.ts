/**
 * Watch streams of a client that never reads: 10,000 watches on one stream end it at
 * maxWatchersPerStream, and a stream whose queued responses pass watchStreamMaxQueuedBytes is cut
 * off; both with RESOURCE_EXHAUSTED and a message naming the limit, both freeing the server's
 * side before the client reads anything. A raw HTTP/2 client that does not read (its receive
 * window fills), single-node LocalBackend.
 */
import http2 from 'node:http2';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_ETCD_LIMITS } from '../../src/datastore/etcd/limits.js';
import { capturingLogger, eventually, type Harness, startHarness } from './helpers.js';

const RESOURCE_EXHAUSTED = '8';
/** Anti-hang guard for the server to act; not a timing claim. */
const GUARD_MS = 30_000;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

function field(tag: number, body: number[]): number[] {
  return [tag, ...varint(body.length), ...body];
}

/** A gRPC frame of a WatchRequest: create (key, optional watch_id) or cancel. */
function createFrame(key: string, watchId = 0): Buffer {
  const create = [...field(0x0a, [...Buffer.from(key)]), ...(watchId ? [0x38, ...varint(watchId)] : [])];
  return grpcFrame(field(0x0a, create));
}

function cancelFrame(watchId: number): Buffer {
  return grpcFrame(field(0x12, [0x08, ...varint(watchId)]));
}

function grpcFrame(message: number[]): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  Buffer.from(message).copy(frame, 5);
  return frame;
}

interface Outcome {
  status: string | undefined;
  message: string | undefined;
  rstCode: number | undefined;
}

/** A Watch stream that reads nothing until told to; the outcome is what it finally sees. */
function silentWatch(h: Harness) {
  const session = http2.connect(`http://${h.address}`);
  session.on('error', () => {});
  const stream = session.request({
    ':method': 'POST',
    ':path': '/etcdserverpb.Watch/Watch',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.on('error', () => {});
  const outcome: Outcome = { status: undefined, message: undefined, rstCode: undefined };
  stream.on('trailers', (t) => {
    outcome.status = String(t['grpc-status']);
    outcome.message = decodeURIComponent(String(t['grpc-message'] ?? ''));
  });
  const closed = new Promise<void>((resolve) =>
    stream.on('close', () => {
      outcome.rstCode = stream.rstCode;
      resolve();
    }),
  );
  stream.pause();
  return {
    stream,
    /** Read everything now and wait for the end. */
    async finish(): Promise<Outcome> {
      stream.on('data', () => {});
      stream.resume();
      stream.end();
      await closed;
      session.close();
      return outcome;
    },
  };
}

function watchStreams(h: Harness): number {
  return (h.server as unknown as { watchStreams: Set<unknown> }).watchStreams.size;
}

test('10,000 watches on a stream that is never read: cut off at maxWatchersPerStream', async () => {
  const capture = capturingLogger();
  const h = await startHarness({ logger: capture.logger });
  try {
    const w = silentWatch(h);
    const creates: Buffer[] = [];
    for (let i = 0; i < 10_000; i++) creates.push(createFrame(`/w/${i}`));
    w.stream.write(Buffer.concat(creates));
    await eventually(
      () => capture.lines.some((l) => l.includes('watch stream cut off')),
      GUARD_MS,
      'cut off',
    );
    await eventually(() => watchStreams(h) === 0, GUARD_MS, 'the stream cut off before its client read');
    const outcome = await w.finish();
    assert.is(outcome.status, RESOURCE_EXHAUSTED, JSON.stringify(outcome));
    assert.match(outcome.message ?? '', /too many watchers on one watch stream/);
    assert.match(
      outcome.message ?? '',
      new RegExp(`maxWatchersPerStream=${DEFAULT_ETCD_LIMITS.maxWatchersPerStream}`),
    );
    const lines = capture.lines.filter((l) => l.includes('watch stream cut off'));
    assert.is(lines.length, 1, 'one log line');
    assert.match(lines[0]!, /MK_LIMIT_EXCEEDED/);
  } finally {
    await h.close();
  }
});

test('a stream whose client keeps asking and never reads is cut off at watchStreamMaxQueuedBytes', async () => {
  const capture = capturingLogger();
  const limits = { watchQueueBytes: 64 * 1024, watchStreamMaxQueuedBytes: 256 * 1024 };
  const h = await startHarness({ logger: capture.logger, limits });
  try {
    const w = silentWatch(h);
    // Each pair is answered twice (created, canceled) and never holds more than one watcher.
    const pairs: Buffer[] = [];
    for (let i = 0; i < 20_000; i++) pairs.push(createFrame('/q', 7), cancelFrame(7));
    w.stream.write(Buffer.concat(pairs));
    await eventually(
      () => capture.lines.some((l) => l.includes('watch stream cut off')),
      GUARD_MS,
      'cut off',
    );
    await eventually(() => watchStreams(h) === 0, GUARD_MS, 'the stream gone');
    const outcome = await w.finish();
    assert.is(outcome.status, RESOURCE_EXHAUSTED, JSON.stringify(outcome));
    assert.match(outcome.message ?? '', /does not read its responses/);
    assert.match(outcome.message ?? '', /watchStreamMaxQueuedBytes=262144/);
  } finally {
    await h.close();
  }
});

test.run();
