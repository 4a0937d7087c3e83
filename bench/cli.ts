// Benchmarks. `npm run bench -- raft-core [--seconds S]`: throughput of the pure Raft core.
// Results go to stdout as a table and to bench/results/<name>-<time>.json for comparison.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCoreBench } from './raft-core.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { seconds: { type: 'string', default: '3' }, runs: { type: 'string', default: '3' } },
});
const which = positionals[0] ?? 'raft-core';
const seconds = Number(values.seconds);
const runs = Number(values.runs);

if (which !== 'raft-core') {
  console.error(`unknown benchmark '${which}'; available: raft-core`);
  process.exit(2);
}

const rows: Record<string, unknown>[] = [];
for (const batch of [1, 16, 64, 256]) {
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) {
    samples.push(runCoreBench({ seconds, batch, valueBytes: 128, pipeline: 4 }).entriesPerSecond);
  }
  samples.sort((a, b) => a - b);
  const row = {
    batch,
    valueBytes: 128,
    medianEntriesPerSecond: Math.round(samples[Math.floor(samples.length / 2)]!),
    min: Math.round(samples[0]!),
    max: Math.round(samples[samples.length - 1]!),
  };
  rows.push(row);
  console.log(
    `raft-core batch=${String(batch).padStart(3)}  ${String(row.medianEntriesPerSecond).padStart(9)} entries/s  (min ${row.min}, max ${row.max}, ${runs} runs of ${seconds}s)`,
  );
}
const dir = join(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `raft-core-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({ benchmark: 'raft-core', node: process.version, rows }, null, 2)}\n`);
console.log(`wrote ${file}`);
