/**
 * A peer that accepts the connection but never reads: the sender's memory stays bounded (queue
 * bound + socket backpressure), the stalled connection is cut and re-dialed, other peers are
 * unaffected, and stop() still returns promptly.
 */
import { createServer, type TLSSocket } from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MiB } from '../../src/lib/limits.js';
import { append, hostOf, makePki, type Node, numbered, startNode, type TestPki, waitFor } from './helpers.js';

const MESSAGES = 100_000;
const CHUNK = 1000;
const QUEUE_MESSAGES = 5000;
const QUEUE_BYTES = 1 * MiB;
const STALL_MS = 300;

let pki: TestPki;

test.before(async () => {
  pki = await makePki([1, 2, 3]);
});

test.after(async () => {
  await pki.cleanup();
});

test('sending 100k messages to a peer that never reads stays bounded', async () => {
  // The "peer": node 2's valid certificate, TLS handshake completes, then nothing is read.
  const accepted: TLSSocket[] = [];
  const slow = createServer({
    ca: pki.ca,
    ...pki.peers.get(2)!,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  });
  slow.on('secureConnection', (socket) => {
    socket.pause();
    socket.on('error', () => {});
    accepted.push(socket);
  });
  await new Promise<void>((resolve) => slow.listen(0, hostOf(2), resolve));
  const slowPort = (slow.address() as { port: number }).port;

  const healthy = await startNode(pki, 3, new Map());
  const sender: Node = await startNode(
    pki,
    1,
    new Map([
      [2, { host: hostOf(2), port: slowPort }],
      [3, { host: hostOf(3), port: healthy.transport.port }],
    ]),
    {
      limits: {
        maxQueuedMessagesPerPeer: QUEUE_MESSAGES,
        maxQueuedBytesPerPeer: QUEUE_BYTES,
        writeStallTimeoutMs: STALL_MS,
      },
    },
  );

  try {
    const rssBefore = process.memoryUsage().rss;
    let maxQueuedBytes = 0;
    for (let i = 0; i < MESSAGES; i += CHUNK) {
      const batch = [];
      for (let j = 1; j <= CHUNK; j++) batch.push(append(1, 2, i + j));
      sender.transport.send(batch);
      // Heartbeats to the healthy peer all along.
      sender.transport.send([numbered(1, 3, i / CHUNK)]);
      const stats = sender.transport.stats();
      maxQueuedBytes = Math.max(maxQueuedBytes, stats.queuedBytes);
      assert.ok(stats.queuedMessages <= QUEUE_MESSAGES + 1, `queue bounded: ${stats.queuedMessages}`);
      // Let the writer run between chunks, as a real Raft loop would.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const stats = sender.transport.stats();
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    console.log(
      `slow peer: sent=${stats.sent} dropped=${stats.dropped} maxQueuedBytes=${maxQueuedBytes} rssGrowth=${(rssGrowth / MiB).toFixed(1)} MiB`,
    );
    assert.ok(stats.dropped > 0, 'messages were dropped');
    assert.ok(maxQueuedBytes <= QUEUE_BYTES + 1024, `queued bytes bounded: ${maxQueuedBytes}`);
    assert.ok(stats.sent < MESSAGES, 'not everything went into the socket');
    assert.ok(rssGrowth < 200 * MiB, `memory did not explode: ${rssGrowth} bytes`);

    // The healthy peer got every heartbeat despite its neighbour.
    await waitFor(() => healthy.inbox.length === MESSAGES / CHUNK, 'heartbeats to the healthy peer');

    // The stalled connection is cut and re-dialed (the queue still holds messages for it).
    await waitFor(() => accepted.length >= 2, 'a re-dial after the stall', 5000);
    assert.ok(
      sender.logs.records.some(
        (r) => r.message === 'peer stopped reading: closing the connection to re-dial it',
      ),
      'the stall is logged',
    );
  } finally {
    const started = Date.now();
    await sender.transport.stop();
    const elapsed = Date.now() - started;
    // A hang guard, not a timing claim: stop() must not wait for the stalled peer's writes.
    assert.ok(elapsed < 10_000, `stop() took ${elapsed} ms`);
    await healthy.transport.stop();
    for (const socket of accepted) socket.destroy();
    await new Promise<void>((resolve) => slow.close(() => resolve()));
  }
});

test.run();
