/**
 * A node goes away and comes back on the same address: while it is down, what others queue for
 * it stays bounded (the oldest are dropped); they re-dial with a growing backoff and deliver the
 * newest queued messages, in order, once it is back.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  hostOf,
  makePki,
  type Node,
  numbered,
  startCluster,
  startNode,
  type TestPki,
  waitFor,
} from './helpers.js';

const QUEUE_BOUND = 1000;
const SENT_WHILE_DOWN = 50_000;
/**
 * A hang guard, not a timing claim: stop() waits for no peer and no backoff, so only a hang takes
 * this long. How fast it stops is measured by `npm run bench -- transport`.
 */
const STOP_HANG_GUARD_MS = 30_000;

async function stopWithinGuard(node: Node): Promise<void> {
  const guard = new AbortController();
  await Promise.race([
    node.transport.stop(),
    sleep(STOP_HANG_GUARD_MS, undefined, { signal: guard.signal }).then(() => {
      throw new Error(`node ${node.id}: stop() still running after ${STOP_HANG_GUARD_MS} ms`);
    }),
  ]).finally(() => guard.abort());
}

let pki: TestPki;
let nodes: Node[] = [];

test.before(async () => {
  pki = await makePki([1, 2, 3]);
  nodes = await startCluster(pki, [1, 2, 3], {
    limits: { maxQueuedMessagesPerPeer: QUEUE_BOUND },
    logLevel: 'debug',
  });
});

test.after(async () => {
  await Promise.all(nodes.map((n) => n.transport.stop()));
  await pki.cleanup();
});

test('a restarted node is re-dialed with backoff and gets the newest queued messages', async () => {
  const [n1, n2, n3] = nodes as [Node, Node, Node];
  const port3 = n3.transport.port;
  for (const n of nodes) for (const m of nodes) if (n !== m) n.transport.send([numbered(n.id, m.id, 1)]);
  await waitFor(
    () => nodes.every((n) => n.transport.stats().connections === 4),
    'full mesh before the restart',
  );
  for (const n of nodes) n.inbox.length = 0;

  await stopWithinGuard(n3);
  await waitFor(
    () => n1.transport.stats().connections === 2 && n2.transport.stats().connections === 2,
    'links down',
  );

  // While node 3 is down: queue bounded, oldest dropped, dialing backs off.
  const droppedBefore = n1.transport.stats().dropped;
  const failuresBefore = n1.logs.records.filter((r) =>
    /cannot connect to peer/.test(String(r.message)),
  ).length;
  const batch = [];
  for (let i = 1; i <= SENT_WHILE_DOWN; i++) batch.push(numbered(1, 3, 100 + i));
  n1.transport.send(batch);
  n2.transport.send([numbered(2, 3, 7)]);
  const stats = n1.transport.stats();
  assert.is(stats.queuedMessages, QUEUE_BOUND, 'queue at its bound');
  assert.is(
    stats.dropped - droppedBefore,
    SENT_WHILE_DOWN - QUEUE_BOUND,
    'the excess is dropped and counted',
  );

  await sleep(1000);
  const failures =
    n1.logs.records.filter((r) => /cannot connect to peer/.test(String(r.message))).length - failuresBefore;
  // Backoff 10 ms doubling to 200 ms: about eight attempts in a second, not hundreds.
  assert.ok(failures >= 3 && failures <= 20, `dial attempts in 1 s: ${failures}`);
  assert.is(n1.transport.stats().queuedMessages, QUEUE_BOUND, 'still bounded while failing');

  const peers = new Map([
    [1, { host: hostOf(1), port: n1.transport.port }],
    [2, { host: hostOf(2), port: n2.transport.port }],
  ]);
  const reborn = await startNode(pki, 3, peers, { port: port3 });
  nodes[2] = reborn;
  assert.is(reborn.transport.port, port3, 'same port');

  await waitFor(
    () => reborn.inbox.filter((m) => m.from === 1).length === QUEUE_BOUND,
    'node 1 queue delivered',
  );
  await waitFor(() => reborn.inbox.some((m) => m.from === 2 && m.readSeq === 7), 'node 2 queue delivered');
  const fromOne = reborn.inbox.filter((m) => m.from === 1).map((m) => m.readSeq!);
  const newest = Array.from({ length: QUEUE_BOUND }, (_, i) => 100 + SENT_WHILE_DOWN - QUEUE_BOUND + 1 + i);
  assert.equal(fromOne, newest, 'exactly the newest messages, in order');

  // And traffic flows both ways again.
  reborn.inbox.length = 0;
  for (const n of [n1, n2]) n.inbox.length = 0;
  reborn.transport.send([numbered(3, 1, 42), numbered(3, 2, 42)]);
  n1.transport.send([numbered(1, 3, 43)]);
  await waitFor(
    () => n1.inbox.length === 1 && n2.inbox.length === 1 && reborn.inbox.length === 1,
    'both ways',
  );
  await waitFor(() => nodes.every((n) => n.transport.stats().connections === 4), 'full mesh again');
});

test('messages queued for a node that never returns stay bounded and stop() discards them promptly', async () => {
  const [n1] = nodes as [Node];
  n1.transport.setPeers(new Map([...nodesAddresses(), [9, { host: hostOf(9), port: 1 }]]));
  for (let i = 0; i < 5; i++) {
    const batch = [];
    for (let j = 0; j < 10_000; j++) batch.push(numbered(1, 9, j));
    n1.transport.send(batch);
    await sleep(20);
  }
  assert.is(n1.transport.stats().queuedMessages, QUEUE_BOUND);
  await stopWithinGuard(n1);
  assert.is(n1.transport.stats().queuedMessages, 0);
});

function nodesAddresses(): [number, { host: string; port: number }][] {
  return nodes.map((n) => [n.id, { host: hostOf(n.id), port: n.transport.port }]);
}

test.run();
