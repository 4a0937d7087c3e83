/**
 * Bad input on the peer port: each hostile connection is closed and counted, nothing crashes,
 * and the legitimate nodes keep talking. Hostile clients dial from 127.0.1.66.
 */
import { connect as tcpConnect } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeMessage } from '../../src/datastore/transport/codec.js';
import { buildBatchFrame, encodeHelloFrame } from '../../src/datastore/transport/frames.js';
import { DEFAULT_TRANSPORT_LIMITS } from '../../src/datastore/transport/limits.js';
import { SeededRandom } from '../../src/lib/random.js';
import { makePki, type Node, numbered, startCluster, type TestPki, waitFor } from './helpers.js';

const HOSTILE_ADDRESS = '127.0.1.66';
const CLOSE_TIMEOUT_MS = 5000;

let pki: TestPki;
let nodes: Node[] = [];
let target: Node;

test.before(async () => {
  pki = await makePki([1, 2, 3, 4]);
  nodes = await startCluster(pki, [1, 2, 3]);
  target = nodes[0]!;
  // Warm up the mesh so that the legitimate connections exist during the attacks.
  for (const n of nodes) for (const m of nodes) if (n !== m) n.transport.send([numbered(n.id, m.id, 1)]);
  await waitFor(() => nodes.every((n) => n.inbox.length === 2), 'warm-up');
  for (const n of nodes) n.inbox.length = 0;
});

test.after(async () => {
  await Promise.all(nodes.map((n) => n.transport.stop()));
  await pki.cleanup();
});

function closedWithin(
  socket: { once(event: 'close', fn: () => void): unknown },
  what: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what}: not closed within ${CLOSE_TIMEOUT_MS} ms`)),
      CLOSE_TIMEOUT_MS,
    );
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A TLS client; `onSecure` writes whatever the case needs. Resolves when the server closed it. */
async function tlsAttempt(
  what: string,
  credentials: { ca: string; cert?: string; key?: string },
  onSecure: (socket: TLSSocket) => void = () => {},
): Promise<void> {
  const options: ConnectionOptions & { localAddress: string } = {
    host: '127.0.1.1',
    port: target.transport.port,
    localAddress: HOSTILE_ADDRESS,
    ...credentials,
    // We attack node 1: its certificate is fine, no need to check the name.
    checkServerIdentity: () => undefined,
    rejectUnauthorized: credentials.ca === pki.ca,
  };
  const socket = tlsConnect(options);
  socket.on('error', () => {});
  socket.on('data', () => {});
  socket.once('secureConnect', () => onSecure(socket));
  await closedWithin(socket, what);
}

const node4 = () => ({ ca: pki.ca, ...pki.peers.get(4)! });
const hello = (nodeId: number, clusterId = 'test-cluster') =>
  encodeHelloFrame({ version: 1, clusterId, nodeId });

function expectCounted(before: ReturnType<Node['transport']['stats']>, key: 'badFrames' | 'rejectedPeers') {
  const after = target.transport.stats();
  assert.is(after[key], before[key] + 1, `${key} counted once`);
}

test('(a) a plain TCP client sending random bytes is closed', async () => {
  const before = target.transport.stats();
  const rng = new SeededRandom(99);
  const garbage = Buffer.alloc(4096);
  for (let i = 0; i < garbage.length; i++) garbage[i] = rng.int(256);
  const socket = tcpConnect({
    host: '127.0.1.1',
    port: target.transport.port,
    localAddress: HOSTILE_ADDRESS,
  });
  socket.on('error', () => {});
  socket.once('connect', () => socket.write(garbage));
  await closedWithin(socket, 'random bytes');
  await waitFor(
    () => target.transport.stats().rejectedPeers === before.rejectedPeers + 1,
    'the rejection count',
  );
  const logged = target.logs.records.find(
    (r) =>
      (r.error as { code?: string } | undefined)?.code === 'MK_PEER_REJECTED' &&
      String(r.remote).startsWith(HOSTILE_ADDRESS),
  );
  assert.ok(logged, 'logged as MK_PEER_REJECTED with the remote address');
  assert.is(logged!.level, 'warn');
});

test('(b) a TLS client with a certificate from another CA is refused', async () => {
  const before = target.transport.stats();
  await tlsAttempt('foreign CA', { ca: pki.ca, cert: pki.foreign.cert, key: pki.foreign.key }, (s) =>
    s.write(hello(2)),
  );
  await waitFor(
    () => target.transport.stats().rejectedPeers === before.rejectedPeers + 1,
    'the rejection count',
  );
  assert.is(target.transport.stats().received, before.received);
  const logged = target.logs.records.find((r) =>
    /UNABLE_TO_VERIFY_LEAF_SIGNATURE/.test(String((r.error as { message?: string } | undefined)?.message)),
  );
  assert.ok(logged, 'the verification failure is logged with its reason');
  assert.match(String(logged!.remote), HOSTILE_ADDRESS);
});

test('(b2) a TLS client without a certificate is refused', async () => {
  const before = target.transport.stats();
  await tlsAttempt('no certificate', { ca: pki.ca }, (s) => s.write(hello(2)));
  await waitFor(
    () => target.transport.stats().rejectedPeers === before.rejectedPeers + 1,
    'the rejection count',
  );
});

test('(b3) a cluster client certificate that names no peer is refused', async () => {
  const before = target.transport.stats();
  await tlsAttempt('client certificate', { ca: pki.ca, ...pki.client }, (s) => s.write(hello(2)));
  expectCounted(before, 'rejectedPeers');
});

test('(c) an oversized length prefix closes the connection, after the hello and before it', async () => {
  let before = target.transport.stats();
  const huge = Buffer.alloc(4);
  huge.writeUInt32BE(DEFAULT_TRANSPORT_LIMITS.maxFrameBytes + 1);
  await tlsAttempt('oversized after hello', node4(), (s) => s.write(Buffer.concat([hello(4), huge])));
  expectCounted(before, 'badFrames');

  before = target.transport.stats();
  const big = Buffer.alloc(4);
  big.writeUInt32BE(64 * 1024); // fine later, too large for a hello
  await tlsAttempt('oversized hello', node4(), (s) => s.write(big));
  expectCounted(before, 'badFrames');
  const logged = target.logs.records.filter(
    (r) =>
      r.message === 'bad frame from peer: closing the connection' &&
      String(r.remote).startsWith(HOSTILE_ADDRESS),
  );
  assert.ok(logged.length >= 2, 'logged with the remote address');
});

test('(d) garbage after a valid hello closes the connection', async () => {
  const rng = new SeededRandom(5);
  const variants: Buffer[] = [
    // A frame of an unknown kind.
    Buffer.from([0, 0, 0, 3, 9, 1, 2]),
    // A batch whose count varint never ends.
    Buffer.from([0, 0, 0, 10, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    // A second hello.
    hello(4),
    // A batch frame whose body is random bytes.
    (() => {
      const body = Buffer.alloc(200);
      for (let i = 0; i < body.length; i++) body[i] = rng.int(256);
      body[0] = 2;
      body[1] = 5; // five messages announced
      const frame = Buffer.alloc(4 + body.length);
      frame.writeUInt32BE(body.length);
      body.copy(frame, 4);
      return frame;
    })(),
  ];
  for (const [i, garbage] of variants.entries()) {
    const before = target.transport.stats();
    // A valid message first, then the garbage in the same write: the valid frame is delivered,
    // the bad one closes the connection.
    const valid = encodeMessage(numbered(4, 1, 4000 + i));
    await tlsAttempt(`garbage ${i}`, node4(), (s) =>
      s.write(Buffer.concat([hello(4), buildBatchFrame([valid], valid.length), garbage])),
    );
    expectCounted(before, 'badFrames');
    assert.ok(
      target.inbox.some((m) => m.readSeq === 4000 + i),
      `the frame before the garbage was delivered (${i})`,
    );
  }
  target.inbox.length = 0;
});

test('(e) a hello with the wrong cluster id is refused', async () => {
  const before = target.transport.stats();
  const valid = encodeMessage(numbered(4, 1, 5000));
  await tlsAttempt('wrong cluster', node4(), (s) =>
    s.write(Buffer.concat([hello(4, 'another-cluster'), buildBatchFrame([valid], valid.length)])),
  );
  expectCounted(before, 'rejectedPeers');
  assert.not.ok(
    target.inbox.some((m) => m.readSeq === 5000),
    'nothing after a refused hello is delivered',
  );
  const logged = target.logs.records.find((r) =>
    /belongs to cluster 'another-cluster'/.test(String((r.error as { message?: string })?.message)),
  );
  assert.is((logged?.error as { code?: string } | undefined)?.code, 'MK_PEER_REJECTED');
});

test('(f) a certificate for node 2 claiming to be node 3 is refused', async () => {
  const before = target.transport.stats();
  const spoof = encodeMessage(numbered(3, 1, 6000));
  await tlsAttempt('identity mismatch', { ca: pki.ca, ...pki.peers.get(2)! }, (s) =>
    s.write(Buffer.concat([hello(3), buildBatchFrame([spoof], spoof.length)])),
  );
  expectCounted(before, 'rejectedPeers');
  assert.not.ok(target.inbox.some((m) => m.readSeq === 6000));
});

test('(g) a client that never says hello is closed after the handshake timeout', async () => {
  const before = target.transport.stats();
  const logged = target.logs.records.length;
  // closedWithin's CLOSE_TIMEOUT_MS is only a hang guard; the logged reason shows which timer closed it.
  await tlsAttempt('silent client', node4());
  const reasons = target.logs.records
    .slice(logged)
    .filter((r) => r.message === 'rejected a peer connection')
    .map((r) => JSON.stringify(r.error));
  assert.ok(
    reasons.some((r) => r.includes('no hello within')),
    `rejected for want of a hello: ${reasons.join('; ')}`,
  );
  expectCounted(before, 'rejectedPeers');
});

test('afterwards the legitimate nodes still exchange messages', async () => {
  for (const n of nodes)
    for (const m of nodes) if (n !== m) n.transport.send([numbered(n.id, m.id, 7000 + n.id)]);
  await waitFor(
    () => nodes.every((n) => n.inbox.filter((m) => m.readSeq! >= 7000).length === 2),
    'all pairs',
  );
  for (const n of nodes) assert.is(n.transport.stats().connections, 4, `node ${n.id} has its full mesh`);
  assert.is(target.transport.stats().dropped, 0);
});

test.run();
