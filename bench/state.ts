/**
 * Quick measurements of the state machine (not a test): `npx tsx bench/state.ts`.
 * Apply throughput of puts with 256-byte values in batches of 1 and 100 (file db, WAL,
 * synchronous=NORMAL, with and without a watch subscriber), and read latencies over 10k keys.
 */
import { join } from 'node:path';
import { encodeCommand } from '../src/datastore/state/codec.js';
import { KvStateMachine } from '../src/datastore/state/kv-store.js';
import { b, quietLogger, tempDir } from '../test/state/helpers.js';

const VALUE = new Uint8Array(256).fill(0x61);

function putEntries(first: number, count: number, keySpace: number): { index: number; data: Uint8Array }[] {
  return Array.from({ length: count }, (_, i) => ({
    index: first + i,
    data: encodeCommand({
      type: 'put',
      request: { key: b(`/registry/pods/default/pod-${(first + i) % keySpace}`), value: VALUE },
    }),
  }));
}

/** Rounds per figure; the best one is reported (the machine may be shared). */
const ROUNDS = 5;

function throughput(dir: string, name: string, batch: number, total: number, subscribe: boolean): void {
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const sm = KvStateMachine.open(join(dir, `${name}-${round}.db`), { logger: quietLogger });
    if (subscribe) sm.subscribe(() => {});
    const entries = putEntries(1, total, 10_000);
    const start = performance.now();
    for (let i = 0; i < entries.length; i += batch) sm.applyEntries(entries.slice(i, i + batch));
    best = Math.max(best, total / ((performance.now() - start) / 1000));
    sm.close();
  }
  console.log(
    `apply: batch ${String(batch).padStart(3)}${subscribe ? ' + watcher' : '          '}: ${Math.round(best).toLocaleString('en')} puts/s`,
  );
}

function time(label: string, iterations: number, fn: () => void): void {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < Math.min(20, iterations); i++) fn();
    const start = performance.now();
    for (let i = 0; i < iterations; i++) fn();
    best = Math.min(best, (performance.now() - start) / iterations);
  }
  console.log(`${label}: ${best < 0.1 ? `${(best * 1000).toFixed(1)} µs` : `${best.toFixed(2)} ms`}`);
}

const { dir, cleanup } = tempDir();
try {
  throughput(dir, 'b1', 1, 10_000, false);
  throughput(dir, 'b1w', 1, 10_000, true);
  throughput(dir, 'b100', 100, 100_000, false);
  throughput(dir, 'b100w', 100, 100_000, true);

  const sm = KvStateMachine.open(join(dir, 'reads.db'), { logger: quietLogger });
  sm.applyEntries(putEntries(1, 10_000, 10_000));
  // A second generation of every key, so historical reads have versions to skip.
  for (let i = 0; i < 10_000; i += 1000) sm.applyEntries(putEntries(10_001 + i, 1000, 10_000));
  const prefix = { key: b('/registry/pods/'), rangeEnd: b('/registry/pods0') };
  const oldRev = 5_000;
  console.log(
    `keys: ${sm.range({ ...prefix, countOnly: true }).count}, revision ${sm.revision()}, db ${(sm.dbSize() / 2 ** 20).toFixed(1)} MiB`,
  );
  time('point get', 20_000, () => sm.range({ key: b('/registry/pods/default/pod-4242') }));
  time('range prefix limit 500 over 10k keys (with count)', 300, () => sm.range({ ...prefix, limit: 500 }));
  time('range prefix limit 500, keysOnly', 300, () => sm.range({ ...prefix, limit: 500, keysOnly: true }));
  time('range prefix countOnly over 10k keys', 300, () => sm.range({ ...prefix, countOnly: true }));
  time('historical range limit 500 (older revision)', 100, () =>
    sm.range({ ...prefix, limit: 500, revision: oldRev }),
  );
  time('historical point get', 5_000, () =>
    sm.range({ key: b('/registry/pods/default/pod-4242'), revision: oldRev }),
  );
  time('history replay of the last 1000 revisions', 100, () =>
    sm.history(sm.revision() - 999, prefix.key, prefix.rangeEnd, 10_000),
  );
  sm.close();
} finally {
  cleanup();
}
