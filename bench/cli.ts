// Benchmarks. `npm run bench` (= `compare --against etcd,dqlite`): our lab, a real etcd and
// dqlite side by side (bench/compare.ts), the one command the performance claims come from.
// `npm run bench -- raft-core [--seconds S]`: throughput of the pure Raft core.
// `npm run bench -- lab`: our 3-node lab alone. `npm run bench -- compare`: against etcd only.
// `npm run bench -- memory [--inside] [--node-options ...] [--env K=V]`: RSS of a lab, idle and
// under a c64 load, anonymous vs file-backed (bench/memory.ts).
// `npm run bench -- codecs [--iterations N]`: ns per operation of the binary codecs (protobuf against
// protobufjs, wire.ts, the Raft log's commands, the transport's batches; bench/codecs.ts).
// `npm run bench -- transport [--messages N]`: the peer transport's rate and stop() times (bench/transport.ts).
// Results go to stdout as a table and to bench/results/<name>-<time>.json for comparison.
import './quiet-logs.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCodecBench } from './codecs.js';
import {
  type CompareRow,
  PEERS,
  type PeerName,
  runCompare,
  WORKLOAD_GROUPS,
  type WorkloadGroup,
} from './compare.js';
import { runLabBench } from './lab.js';
import { type MemoryProbeResult, nodeRssFloor, runMemoryProbe, summarizeMemory } from './memory.js';
import { runCoreBench } from './raft-core.js';
import { runTransportBench } from './transport.js';

// Ctrl-C or SIGTERM exits through 'exit', where the peers' hooks and the lab's stop what they started.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(signal === 'SIGINT' ? 130 : 143));
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string' },
    runs: { type: 'string' },
    failovers: { type: 'string' },
    against: { type: 'string' },
    'list-keys': { type: 'string' },
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    base: { type: 'string' },
    'node-options': { type: 'string' },
    env: { type: 'string', multiple: true },
    inside: { type: 'boolean', default: false },
    fill: { type: 'string' },
    iterations: { type: 'string' },
    messages: { type: 'string' },
  },
});
// With no benchmark named, the full comparison against both peers.
const which = positionals[0] ?? 'compare';
const defaultAgainst = positionals[0] === undefined ? 'etcd,dqlite' : 'etcd';
const quick = values.quick;
/** A flag's number, or the default of this benchmark (a smaller one with --quick). */
function num(
  name: 'seconds' | 'runs' | 'failovers' | 'list-keys' | 'fill' | 'iterations' | 'messages',
  normal: number,
  quickValue: number,
): number {
  const raw = values[name];
  const n = raw === undefined ? (quick ? quickValue : normal) : Number(raw);
  if (!(Number.isFinite(n) && n > 0)) {
    console.error(`--${name} must be a positive number, got '${raw}'`);
    process.exit(2);
  }
  return n;
}
const seconds = num('seconds', 3, 1);
const runs = num('runs', 3, 1);

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

if (which === 'codecs') {
  const rows = runCodecBench({ iterations: Math.round(num('iterations', 100_000, 20_000)) });
  for (const r of rows) {
    const versus =
      r.protobufjsNsPerOp === undefined
        ? ''
        : `, protobufjs ${r.protobufjsNsPerOp.toFixed(0)} ns/op (${(r.protobufjsNsPerOp / r.nsPerOp).toFixed(1)}x)`;
    console.log(`${r.what.padEnd(44)} ${r.nsPerOp.toFixed(0).padStart(8)} ns/op${versus}`);
  }
  save('codecs', { rows });
  process.exit(0);
}
if (which === 'transport') {
  const r = await runTransportBench({ messages: Math.round(num('messages', 200_000, 50_000)) });
  console.log(
    `throughput: ${r.messages} messages, ${Math.round(r.messagesPerSecond)} msg/s ` +
      `(${r.entryMiBPerSecond.toFixed(1)} MiB/s of entry data), dropped ${r.dropped}`,
  );
  console.log(
    `stop(): ${r.stopConnectedMs.toFixed(1)} ms with two live links, ${r.stopWithQueuedMs.toFixed(1)} ms with a full queue for an absent peer`,
  );
  save('transport', r);
  process.exit(0);
}
if (which === 'lab') {
  const r = await runLabBench({ seconds, failovers: num('failovers', 5, 1) });
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
  const against = (values.against ?? defaultAgainst).split(',').filter((p) => p !== '') as PeerName[];
  const unknown = against.filter((p) => !PEERS.includes(p));
  if (unknown.length > 0 || against.length === 0) {
    console.error(`--against takes a list of: ${PEERS.join(', ')} (got '${values.against}')`);
    process.exit(2);
  }
  const only = values.only?.split(',').filter((g) => g !== '') as WorkloadGroup[] | undefined;
  const unknownGroups = only?.filter((g) => !WORKLOAD_GROUPS.includes(g)) ?? [];
  if (unknownGroups.length > 0 || only?.length === 0) {
    console.error(`--only takes a list of: ${WORKLOAD_GROUPS.join(', ')} (got '${values.only}')`);
    process.exit(2);
  }
  const started = Date.now();
  const result = await runCompare({
    ...(only ? { only } : {}),
    seconds,
    runs,
    failovers: num('failovers', 7, 1),
    against,
    listKeys: Math.round(num('list-keys', 10_000, 2_000)),
    watchEvents: quick ? 50 : 300,
    onProgress: (line) =>
      console.error(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}`),
  });
  printCompare(result.rows, against);
  for (const [system, errors] of Object.entries(result.errors)) {
    const list = Object.entries(errors).filter(([, n]) => n > 0);
    if (list.length > 0) console.log(`${system}: ${list.map(([k, n]) => `${k}: ${n}`).join('; ')}`);
  }
  const met = result.rows.filter((r) => r.met === true).length;
  const targets = result.rows.filter((r) => r.target !== undefined).length;
  console.log(
    `targets met: ${met} of ${targets}; ${runs} runs of ${seconds} s per phase, ${result.options.failovers} failovers; ` +
      `total ${result.seconds.toFixed(0)} s; ${Object.entries(result.versions)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
  );
  const floor = nodeRssFloor();
  console.log(
    `Node ${process.version} alone: RSS ${floor.bareMb.toFixed(1)} MB; with node:http2, tls, net and crypto ` +
      `loaded: ${floor.withHttp2TlsMb.toFixed(1)} MB (the floor under any etcd server on this runtime)`,
  );
  save('compare', { ...result, nodeRssFloor: floor });
  process.exit(0);
}

/** The table: medians, [min-max] over the runs, and the ratios (above 1: ours better). */
function printCompare(rows: CompareRow[], against: PeerName[]): void {
  const fmt = (n: number) => (Number.isFinite(n) ? (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(1)) : '-');
  const cell = (median: number, [min, max]: [number, number]) =>
    Number.isFinite(median) ? `${fmt(median)} [${fmt(min)}-${fmt(max)}]` : '-';
  const ratio = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : '-');
  const header = ['workload', 'ours', ...against, ...against.map((p) => `ours/${p}`), 'target'];
  const table = rows.map((r) => [
    r.workload,
    cell(r.ours, r.oursRange),
    ...against.map((p) => (p === 'etcd' ? cell(r.etcd, r.etcdRange) : cell(r.dqlite, r.dqliteRange))),
    ...against.map((p) => ratio(p === 'etcd' ? r.advantage : r.advantageDqlite)),
    r.target === undefined ? '' : `${r.target} ${r.met === undefined ? '?' : r.met ? 'met' : 'MISSED'}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ');
  console.log(
    'medians over the runs [min-max]; ours/peer > 1 means ours is better (rates: ours/peer, times and sizes: peer/ours)',
  );
  console.log('clients on plain TCP; the Raft peers of ours and of etcd on mutual TLS');
  console.log(line(header).trimEnd());
  for (const row of table) console.log(line(row).trimEnd());
}
if (which === 'memory') {
  const env: Record<string, string> = {};
  for (const pair of values.env ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      console.error(`--env takes NAME=VALUE, got '${pair}'`);
      process.exit(2);
    }
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const results: MemoryProbeResult[] = [];
  for (let r = 0; r < num('runs', 1, 1); r++) {
    const result = await runMemoryProbe({
      seconds: num('seconds', 10, 5),
      baseAddress: values.base ?? '127.0.30.21',
      ...(values['node-options'] ? { nodeOptions: values['node-options'] } : {}),
      env,
      inside: values.inside,
      fillKeys: Math.round(num('fill', 20_000, 5_000)),
    });
    results.push(result);
    console.log(`run ${r + 1}: ${summarizeMemory([result])}`);
    if (result.inside) console.log(JSON.stringify(result.inside));
  }
  console.log(`median: ${summarizeMemory(results)}`);
  save('memory', { options: { ...values }, results });
  process.exit(0);
}
if (which !== 'raft-core') {
  console.error(
    `unknown benchmark '${which}'; available: raft-core, lab, compare, memory, codecs, transport`,
  );
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
