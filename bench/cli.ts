// Benchmarks. `npm run bench` (= `compare --against etcd,dqlite`): our lab, a real etcd and
// dqlite side by side (bench/compare.ts), the one command the performance claims come from.
// `npm run bench -- raft-core [--seconds S]`: throughput of the pure Raft core.
// `npm run bench -- lab`: our 3-node lab alone. `npm run bench -- compare`: against etcd only.
// `npm run bench -- memory [--inside] [--node-options ...] [--env K=V]`: RSS of a lab, idle and
// under a c64 load, anonymous vs file-backed (bench/memory.ts).
// `npm run bench -- codecs [--iterations N]`: ns per operation of the binary codecs (protobuf against
// protobufjs, wire.ts, the Raft log's commands, the transport's batches; bench/codecs.ts).
// `npm run bench -- transport [--messages N]`: the peer transport's rate and stop() times (bench/transport.ts).
// `npm run bench -- kube [--runs R] [--seconds S] [--pods N] [--list-objects N] [--failovers N]
//   [--datastores ours,etcd-3.6,etcd-3.4] [--profile DIR] [--quick]`: the same kube-apiserver on our
//   datastore, etcd 3.6 and etcd 3.4 (bench/kube.ts); takes the test lock, runs in a network namespace.
// Results go to stdout as a table and to bench/results/<name>-<time>.json for comparison.
import './quiet-logs.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { inOwnNetns } from '../test/kubernetes/node-netns.js';
import { runCodecBench } from './codecs.js';
import {
  type CompareRow,
  PEERS,
  type PeerName,
  runCompare,
  WORKLOAD_GROUPS,
  type WorkloadGroup,
} from './compare.js';
import { KUBE_BENCH_ADDRESS, type KubeBenchResult, runKubeBench } from './kube.js';
import { DATASTORES, type DatastoreName } from './kube-datastores.js';
import { runLabBench } from './lab.js';
import { type MemoryProbeResult, nodeRssFloor, runMemoryProbe, summarizeMemory } from './memory.js';
import { runCoreBench } from './raft-core.js';
import { cell, printErrors, printTable, ratioCell, targetCell, targetsMet } from './table.js';
import { underTestLock } from './test-lock.js';
import { runTransportBench } from './transport.js';

// Ctrl-C or SIGTERM exits through 'exit', where the peers' hooks and the lab's stop what they started.
function exitOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    process.once(signal, () => process.exit(signal === 'SIGINT' ? 130 : 143));
  }
}
exitOnSignals();

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
    pods: { type: 'string' },
    'list-objects': { type: 'string' },
    datastores: { type: 'string' },
    profile: { type: 'string' },
  },
});
// With no benchmark named, the full comparison against both peers.
const which = positionals[0] ?? 'compare';
const defaultAgainst = positionals[0] === undefined ? 'etcd,dqlite' : 'etcd';
const quick = values.quick;
/** A flag's number, or the default of this benchmark (a smaller one with --quick). */
function num(
  name:
    | 'seconds'
    | 'runs'
    | 'failovers'
    | 'list-keys'
    | 'fill'
    | 'iterations'
    | 'messages'
    | 'pods'
    | 'list-objects',
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
  printErrors(result.errors);
  console.log(
    `${targetsMet(result.rows)}; ${runs} runs of ${seconds} s per phase, ${result.options.failovers} failovers; ` +
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
  const header = ['workload', 'ours', ...against, ...against.map((p) => `ours/${p}`), 'target'];
  const table = rows.map((r) => [
    r.workload,
    cell(r.ours, r.oursRange),
    ...against.map((p) => (p === 'etcd' ? cell(r.etcd, r.etcdRange) : cell(r.dqlite, r.dqliteRange))),
    ...against.map((p) => ratioCell(p === 'etcd' ? r.advantage : r.advantageDqlite)),
    targetCell(r.target, r.met),
  ]);
  console.log(
    'medians over the runs [min-max]; ours/peer > 1 means ours is better (rates: ours/peer, times and sizes: peer/ours)',
  );
  console.log('clients on plain TCP; the Raft peers of ours and of etcd on mutual TLS');
  printTable(header, table);
}
if (which === 'kube') {
  await underTestLock();
  // Outside the namespace, a signal goes to the run inside, then the namespace is removed
  // (inOwnNetns's own handlers); inside, it exits through the hooks that stop what was started.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.removeAllListeners(signal);
  const address = await inOwnNetns(import.meta.filename, KUBE_BENCH_ADDRESS);
  exitOnSignals();
  const datastores = (values.datastores ?? DATASTORES.join(','))
    .split(',')
    .map((d) => d.replace('-', ' ')) as DatastoreName[];
  if (datastores.some((d) => !DATASTORES.includes(d)) || !datastores.includes('ours')) {
    console.error(`--datastores takes ours and any of etcd-3.6, etcd-3.4 (got '${values.datastores}')`);
    process.exit(2);
  }
  const started = Date.now();
  const result = await runKubeBench({
    address,
    seconds,
    runs,
    // 0 failovers: a profiled run keeps its leader (a SIGKILLed node writes no profile).
    failovers: values.failovers === '0' ? 0 : num('failovers', 3, 1),
    pods: Math.round(num('pods', 100, 10)),
    listObjects: Math.round(num('list-objects', 10_000, 1000)),
    watchEvents: quick ? 50 : 200,
    datastores,
    ...(values.profile ? { profileDir: values.profile } : {}),
    onProgress: (line) =>
      console.error(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`),
  });
  printKube(result);
  save('kube', result);
  process.exit(0);
}

/** The kube bench's table, in the compare bench's format, with a column per datastore. */
function printKube(result: KubeBenchResult): void {
  const names = result.options.datastores;
  const peers = names.filter((d) => d !== 'ours');
  console.log(
    'medians over the runs [min-max]; ours/peer > 1 means ours is better (rates: ours/peer, times and sizes: peer/ours)',
  );
  console.log(
    'one kube-apiserver per datastore (the same binary), on a whole node started with --etcd-endpoints; ' +
      'load: undici, one HTTP/2 connection, the admin client certificate; pods: the pause image',
  );
  for (const name of names)
    console.log(`${name} (${result.versions[name] ?? '?'}): ${result.transports[name] ?? 'did not start'}`);
  printTable(
    ['workload', ...names, ...peers.map((p) => `ours/${p}`), 'target'],
    result.rows.map((r) => [
      r.workload,
      ...names.map((d) => cell(r.medians[d]!, r.ranges[d]!)),
      ...peers.map((p) => ratioCell(r.advantage[p]!)),
      targetCell(r.target, r.met),
    ]),
  );
  printErrors(result.errors);
  console.log(
    `${targetsMet(result.rows)}; ${result.options.runs} runs of ${result.options.seconds} s per phase, ` +
      `${result.options.failovers} failovers; total ${result.seconds.toFixed(0)} s`,
  );
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
    `unknown benchmark '${which}'; available: raft-core, lab, compare, memory, codecs, transport, kube`,
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
