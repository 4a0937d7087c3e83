/**
 * Bulk delivery: App messages with one 100-byte entry from node 1 to node 2 on loopback, batched by
 * the transport, with a bounded window: every one arrives, in order, and nothing is dropped. The
 * rate is measured by `npm run bench -- transport` (bench/transport.ts), not here; the waits' bounds
 * are hang guards.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { append, makePki, type Node, startCluster, type TestPki, waitFor } from './helpers.js';

const TOTAL = 50_000;
const PER_SEND = 1000;
/** Messages sent but not yet received: below the queue bound, so nothing may be dropped. */
const WINDOW = 8000;

let pki: TestPki;
let nodes: Node[] = [];

test.before(async () => {
  pki = await makePki([1, 2]);
  nodes = await startCluster(pki, [1, 2]);
});

test.after(async () => {
  await Promise.all(nodes.map((n) => n.transport.stop()));
  await pki.cleanup();
});

test('a stream of 100-byte entries arrives complete and in order, nothing dropped', async () => {
  const [sender, receiver] = nodes as [Node, Node];
  let received = 0;
  let lastIndex = 0;
  receiver.transport.onMessage((m) => {
    const index = m.entries![0]!.index;
    if (index !== lastIndex + 1) throw new Error(`out of order: ${index} after ${lastIndex}`);
    lastIndex = index;
    received++;
  });
  const messages = Array.from({ length: TOTAL }, (_, i) => append(1, 2, i + 1));
  for (let i = 0; i < TOTAL; i += PER_SEND) {
    if (i - received > WINDOW) await waitFor(() => i - received <= WINDOW / 2, 'the window to open', 30_000);
    sender.transport.send(messages.slice(i, i + PER_SEND));
  }
  await waitFor(() => received === TOTAL, 'everything', 60_000);
  const stats = sender.transport.stats();
  assert.is(stats.dropped, 0);
});

test.run();
