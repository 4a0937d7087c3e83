/**
 * Throughput of the pure Raft core: committed entries per second in an in-memory 3-node cluster
 * with batched proposals. Messages are handed over in process and "disks" are MemoryStorage, so
 * this measures the core's own cost (log, progress, commit, Ready), not I/O.
 */
import { MemoryStorage, type Message, type NodeId, RawNode } from '../src/datastore/raft/index.js';
import { SeededRandom } from '../src/lib/random.js';

export interface CoreBenchOptions {
  seconds: number;
  batch: number;
  valueBytes: number;
  /** Proposal batches outstanding before the loop waits for commits. */
  pipeline: number;
}

export interface CoreBenchResult {
  entries: number;
  seconds: number;
  entriesPerSecond: number;
  batch: number;
  valueBytes: number;
  messages: number;
}

export function runCoreBench(options: CoreBenchOptions): CoreBenchResult {
  const ids: NodeId[] = [1, 2, 3];
  const conf = { members: ids.map((id) => ({ id, role: 'voter' as const })) };
  const rng = new SeededRandom(1);
  const storages = new Map(ids.map((id) => [id, new MemoryStorage(conf)]));
  const nodes = new Map(
    ids.map((id) => [id, new RawNode({ id, storage: storages.get(id)!, random: rng.fork() })]),
  );
  let queue: Message[] = [];
  let messages = 0;
  let applied = 0;

  const pump = () => {
    for (let round = 0; round < 10_000; round++) {
      let busy = false;
      for (const [id, node] of nodes) {
        while (node.hasReady()) {
          busy = true;
          const rd = node.ready();
          const storage = storages.get(id)!;
          if (rd.entries.length > 0) storage.append(rd.entries);
          if (rd.hardState) storage.setHardState(rd.hardState);
          for (const m of rd.messages) queue.push(m);
          if (id === 1) applied += rd.committed.length;
          node.advance(rd);
        }
      }
      if (queue.length > 0) {
        busy = true;
        const deliver = queue;
        queue = [];
        messages += deliver.length;
        for (const m of deliver) nodes.get(m.to)!.step(m);
      }
      if (!busy) return;
    }
    throw new Error('the cluster did not settle');
  };

  nodes.get(1)!.campaign();
  pump();
  if (nodes.get(1)!.status().state !== 'leader') throw new Error('node 1 did not become leader');
  const value = new Uint8Array(options.valueBytes).fill(120);
  const batch = Array.from({ length: options.batch }, () => value);
  const leader = nodes.get(1)!;
  applied = 0;
  messages = 0;
  const start = performance.now();
  const deadline = start + options.seconds * 1000;
  let iterations = 0;
  while (performance.now() < deadline) {
    for (let i = 0; i < options.pipeline; i++) leader.propose(batch);
    pump();
    if (++iterations % 16 === 0) for (const node of nodes.values()) node.tick();
  }
  const seconds = (performance.now() - start) / 1000;
  return {
    entries: applied,
    seconds,
    entriesPerSecond: applied / seconds,
    batch: options.batch,
    valueBytes: options.valueBytes,
    messages,
  };
}
