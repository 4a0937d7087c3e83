/**
 * The peer transport on loopback (`npm run bench -- transport`): messages per second from one node
 * to another (100-byte entries, batched by the transport, a bounded window so nothing is dropped),
 * and how long stop() takes, with a connected mesh and with a full queue for a peer that never
 * answers. The unit tests only check what must hold (order, nothing dropped, stop returns); the
 * timings live here, where a busy machine changes a figure and fails nothing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  append,
  hostOf,
  makePki,
  type Node,
  numbered,
  startCluster,
  waitFor,
} from '../test/transport/helpers.js';

const PER_SEND = 1000;
/** Messages sent but not yet received: below the queue bound, so the measurement drops nothing. */
const WINDOW = 8000;
/** Queued for the peer that never answers before the stop is timed. */
const QUEUED_FOR_ABSENT_PEER = 50_000;

export interface TransportBenchResult {
  readonly messages: number;
  readonly messagesPerSecond: number;
  readonly entryMiBPerSecond: number;
  readonly dropped: number;
  /** stop() of a node with live links to two peers. */
  readonly stopConnectedMs: number;
  /** stop() of a node whose queue for an unreachable peer is full and backing off. */
  readonly stopWithQueuedMs: number;
}

export async function runTransportBench(options: { messages: number }): Promise<TransportBenchResult> {
  const pki = await makePki([1, 2, 3]);
  let nodes: Node[] = [];
  try {
    nodes = await startCluster(pki, [1, 2, 3]);
    const [n1, n2, n3] = nodes as [Node, Node, Node];
    const rate = await throughput(n1, n2, options.messages);

    for (const n of nodes) for (const m of nodes) if (n !== m) n.transport.send([numbered(n.id, m.id, 1)]);
    await waitFor(() => nodes.every((n) => n.transport.stats().connections === 4), 'full mesh');
    const stopConnectedMs = await timed(() => n3.transport.stop());

    n1.transport.setPeers(
      new Map([
        [2, { host: hostOf(2), port: n2.transport.port }],
        [9, { host: hostOf(9), port: 1 }],
      ]),
    );
    for (let sent = 0; sent < QUEUED_FOR_ABSENT_PEER; sent += 10_000) {
      n1.transport.send(Array.from({ length: 10_000 }, (_, j) => numbered(1, 9, sent + j)));
      await sleep(20);
    }
    const stopWithQueuedMs = await timed(() => n1.transport.stop());
    return { ...rate, stopConnectedMs, stopWithQueuedMs };
  } finally {
    await Promise.all(nodes.map((n) => n.transport.stop()));
    await pki.cleanup();
  }
}

async function timed(run: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

async function throughput(
  sender: Node,
  receiver: Node,
  total: number,
): Promise<Pick<TransportBenchResult, 'messages' | 'messagesPerSecond' | 'entryMiBPerSecond' | 'dropped'>> {
  let received = 0;
  receiver.transport.onMessage(() => {
    received++;
  });
  // Pre-built messages: the measurement is the transport, not their construction.
  const messages = Array.from({ length: total }, (_, i) => append(sender.id, receiver.id, i + 1));
  const started = performance.now();
  for (let i = 0; i < total; i += PER_SEND) {
    if (i - received > WINDOW) await waitFor(() => i - received <= WINDOW / 2, 'the window to open', 30_000);
    sender.transport.send(messages.slice(i, i + PER_SEND));
  }
  await waitFor(() => received === total, 'everything', 120_000);
  const seconds = (performance.now() - started) / 1000;
  return {
    messages: total,
    messagesPerSecond: total / seconds,
    entryMiBPerSecond: (total * 100) / seconds / 1024 / 1024,
    dropped: sender.transport.stats().dropped,
  };
}
