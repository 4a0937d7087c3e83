// Benchmarks. `npm run bench -- raft-core [--seconds S]`: throughput of the pure Raft core.
// Results go to stdout as a table and to bench/results/<name>-<time>.json for comparison.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCompare } from './compare.js';
import { runLabBench } from './lab.js';
import { runCoreBench } from './raft-core.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '3' },
    runs: { type: 'string', default: '3' },
    failovers: { type: 'string', default: '5' },
  },
});
const which = positionals[0] ?? 'raft-core';
const seconds = Number(values.seconds);
const runs = Number(values.runs);

function save(name: string, data: unknown): void {
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ benchmark: name, node: process.version, ...((data as object) ?? {}) }, null, 2)}\n`,
  );
  console.log(`wrote ${file}`);
}

if (which === 'lab') {
  const r = await runLabBench({ seconds, failovers: Number(values.failovers) });
  for (const w of r.writes) {
    console.log(
      `lab put conc=${String(w.concurrency).padStart(2)}  ${w.opsPerSecond.toFixed(0).padStart(6)} ops/s  p50 ${w.p50Ms.toFixed(1)} ms  p99 ${w.p99Ms.toFixed(1)} ms  errors ${w.errors}`,
    );
  }
  console.log(
    `failover (SIGKILL leader -> first write): median ${r.failoverMedianMs.toFixed(0)} ms of [${r.failoverMs.map((f) => f.toFixed(0)).join(', ')}]`,
  );
  console.log(
    `RSS per node idle: ${r.rssIdleMb.map((m) => m.toFixed(0)).join(' / ')} MB; peak: ${r.rssPeakMb.map((m) => m.toFixed(0)).join(' / ')} MB`,
  );
  save('lab', r);
  process.exit(0);
}
if (which === 'compare') {
  const rows = await runCompare({ seconds, runs, failovers: Number(values.failovers) });
  const fmt = (n: number) => (Number.isFinite(n) ? (n >= 100 ? n.toFixed(0) : n.toFixed(1)) : '-');
  console.log(
    `${'workload'.padEnd(30)} ${'ours'.padStart(9)} ${'etcd'.padStart(9)}  advantage (>1: ours better)  [ours min-max | etcd min-max]`,
  );
  for (const r of rows) {
    console.log(
      `${r.workload.padEnd(30)} ${fmt(r.ours).padStart(9)} ${fmt(r.etcd).padStart(9)}  ${r.advantage.toFixed(2).padStart(9)}x  [${fmt(r.oursRange[0])}-${fmt(r.oursRange[1])} | ${fmt(r.etcdRange[0])}-${fmt(r.etcdRange[1])}]`,
    );
  }
  save('compare', { rows });
  process.exit(0);
}
if (which !== 'raft-core') {
  console.error(`unknown benchmark '${which}'; available: raft-core, lab, compare`);
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
save('raft-core', { rows });
