/**
 * A quick measurement, not a benchmark suite: App messages with one 100-byte entry from node 1
 * to node 2 on loopback, batched by the transport, with a bounded window so nothing is dropped.
 * Asserts delivery (complete, in order, nothing dropped) and prints the rate: timings are not asserted.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { append, makePki, type Node, startCluster, type TestPki, waitFor } from './helpers.js';

const TOTAL = 200_000;
const PER_SEND = 1000;
/** Messages sent but not yet received: below the queue bound, so the measurement drops nothing. */
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

test('messages per second between two transports (100-byte entries, batched)', async () => {
  const [sender, receiver] = nodes as [Node, Node];
  let received = 0;
  let lastIndex = 0;
  receiver.transport.onMessage((m) => {
    const index = m.entries![0]!.index;
    if (index !== lastIndex + 1) throw new Error(`out of order: ${index} after ${lastIndex}`);
    lastIndex = index;
    received++;
  });
  // Pre-build the messages so the measurement is the transport, not the test.
  const messages = Array.from({ length: TOTAL }, (_, i) => append(1, 2, i + 1));
  const started = performance.now();
  for (let i = 0; i < TOTAL; i += PER_SEND) {
    if (i - received > WINDOW) await waitFor(() => i - received <= WINDOW / 2, 'the window to open', 30_000);
    sender.transport.send(messages.slice(i, i + PER_SEND));
  }
  await waitFor(() => received === TOTAL, 'everything', 60_000);
  const seconds = (performance.now() - started) / 1000;
  const rate = TOTAL / seconds;
  const stats = sender.transport.stats();
  console.log(
    `throughput: ${TOTAL} messages in ${seconds.toFixed(2)} s = ${Math.round(rate)} msg/s ` +
      `(${((TOTAL * 100) / seconds / 1024 / 1024).toFixed(1)} MiB/s of entry data), dropped ${stats.dropped}`,
  );
  assert.is(stats.dropped, 0);
});

test.run();
