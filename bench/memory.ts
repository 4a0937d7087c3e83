/**
 * Memory of a 3-node lab: RSS per node at idle (after start and a settle) and its peak while it
 * takes --fill keys of 1 KiB, then put and kube update Txn loads at concurrency 64, then paged
 * lists of those keys; split into anonymous and file-backed pages (/proc/PID/smaps_rollup), with
 * the rates of each phase so that a memory setting that costs throughput shows.
 *   npm run bench -- memory [--seconds S] [--runs N] [--base 127.0.30.21] [--fill 20000] [--inside]
 *     [--node-options='--import=...'] [--env MALLOC_ARENA_MAX=2]...
 * --node-options and --env reach the node processes only (through the environment spawnNode
 * passes on); --inside preloads bench/memory-report.mjs into them for V8's own figures.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { labUp } from '../src/lab/formation.js';
import { labDown } from '../src/lab/processes.js';
import { readLab } from '../src/lab/spec.js';
import { fillKeys, kubeUpdateTxn, listPaged, median, memoryOf, putWorkload, runLoad } from './workloads.js';

export interface MemorySample {
  rssMb: number;
  anonMb: number;
  fileMb: number;
}

export interface MemoryProbeResult {
  idle: MemorySample[];
  peak: { hwmMb: number; anonMb: number; fileMb: number }[];
  putOpsPerSecond: number;
  txnOpsPerSecond: number;
  /** Median time of a paged list (500 a page) of the filled keys. */
  listMs: number;
  /** Highest RSS of any node during each phase (fill, put, txn, list), sampled every 200 ms. */
  phasePeakMb: Record<string, number>;
  inside?: { idle: unknown[]; peak: unknown[] };
}

/** RSS of a process split into anonymous and file-backed pages, in MB. */
function splitMemoryOf(pid: number): MemorySample {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
    const rss = kb('Rss');
    const anon = kb('Anonymous');
    return { rssMb: rss / 1024, anonMb: anon / 1024, fileMb: (rss - anon) / 1024 };
  } catch {
    return { rssMb: Number.NaN, anonMb: Number.NaN, fileMb: Number.NaN };
  }
}

function readInside(dir: string, pids: number[]): unknown[] {
  return pids.map((pid) => {
    try {
      return JSON.parse(readFileSync(join(dir, `${pid}.json`), 'utf8'));
    } catch {
      return undefined;
    }
  });
}

export async function runMemoryProbe(options: {
  seconds: number;
  baseAddress: string;
  nodeOptions?: string;
  env?: Record<string, string>;
  inside?: boolean;
  /** Keys of 1 KiB written first, then listed: a database larger than small caches. */
  fillKeys: number;
}): Promise<MemoryProbeResult> {
  const dir = mkdtempSync(join(tmpdir(), 'mk8s-bench-memory-'));
  const reportDir = join(dir, 'reports');
  const saved = { ...process.env };
  const restoreEnv = () => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  };
  const extra: string[] = [];
  if (options.nodeOptions) extra.push(options.nodeOptions);
  if (options.inside) extra.push(`--import=${join(import.meta.dirname, 'memory-report.mjs')}`);
  // Only the nodes see these: spawnNode copies this process's environment when it starts them.
  if (extra.length > 0) process.env.NODE_OPTIONS = extra.join(' ');
  if (options.inside) process.env.MK8S_MEMORY_REPORT_DIR = reportDir;
  Object.assign(process.env, options.env ?? {});
  try {
    if (options.inside) mkdirSync(reportDir, { recursive: true });
    // Seeded: the datastore alone, without the cluster agents a joined lab also starts.
    const nodes = await labUp({ nodes: 3, dir, baseAddress: options.baseAddress, formation: 'seed' });
    restoreEnv();
    const pids = readLab(dir).nodes.map((n) => n.pid);
    const client = new Etcd3({ hosts: nodes.map((n) => n.clientEndpoint), dialTimeout: 2000 });
    await sleep(5000);
    const idle = pids.map(splitMemoryOf);
    const insideIdle = options.inside ? readInside(reportDir, pids) : undefined;
    const peakAnon = pids.map(() => 0);
    const peakFile = pids.map(() => 0);
    // The highest RSS of any node in each phase: which workload the peak comes from.
    let phase = 'fill';
    const phasePeak: Record<string, number> = {};
    const sampler = setInterval(() => {
      pids.forEach((pid, i) => {
        const s = splitMemoryOf(pid);
        phasePeak[phase] = Math.max(phasePeak[phase] ?? 0, s.rssMb);
        peakAnon[i] = Math.max(peakAnon[i]!, s.anonMb);
        peakFile[i] = Math.max(peakFile[i]!, s.fileMb);
      });
    }, 200);
    await fillKeys(client, 'bench/memory/', options.fillKeys, 1024);
    phase = 'put';
    const put = await runLoad(64, options.seconds, putWorkload(client, 256));
    phase = 'txn';
    const txn = await runLoad(64, options.seconds, kubeUpdateTxn(client, 256, 1000).op);
    phase = 'list';
    const lists: number[] = [];
    for (let i = 0; i < 3; i++) lists.push((await listPaged(client, 'bench/memory/', 500)).ms);
    clearInterval(sampler);
    await sleep(600);
    const peak = pids.map((pid, i) => ({
      hwmMb: memoryOf(pid).peakMb,
      anonMb: peakAnon[i]!,
      fileMb: peakFile[i]!,
    }));
    const insidePeak = options.inside ? readInside(reportDir, pids) : undefined;
    client.close();
    return {
      idle,
      peak,
      putOpsPerSecond: put.opsPerSecond,
      txnOpsPerSecond: txn.opsPerSecond,
      listMs: median(lists),
      phasePeakMb: phasePeak,
      ...(insideIdle && insidePeak ? { inside: { idle: insideIdle, peak: insidePeak } } : {}),
    };
  } finally {
    restoreEnv();
    await labDown(dir).catch(() => 0);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The median over runs of each figure, per node, and one line of text. */
export function summarizeMemory(results: MemoryProbeResult[]): string {
  const f = (pick: (r: MemoryProbeResult) => number[]) =>
    [0, 1, 2].map((i) => median(results.map((r) => pick(r)[i]!)).toFixed(0)).join('/');
  return (
    `idle RSS ${f((r) => r.idle.map((s) => s.rssMb))} MB (anon ${f((r) => r.idle.map((s) => s.anonMb))}, ` +
    `file ${f((r) => r.idle.map((s) => s.fileMb))}); peak RSS ${f((r) => r.peak.map((s) => s.hwmMb))} MB ` +
    `(anon ${f((r) => r.peak.map((s) => s.anonMb))}, file ${f((r) => r.peak.map((s) => s.fileMb))}); ` +
    `put c64 ${median(results.map((r) => r.putOpsPerSecond)).toFixed(0)}/s, ` +
    `txn c64 ${median(results.map((r) => r.txnOpsPerSecond)).toFixed(0)}/s, ` +
    `list ${median(results.map((r) => r.listMs)).toFixed(0)} ms; max RSS by phase ` +
    ['fill', 'put', 'txn', 'list']
      .map((p) => `${p} ${median(results.map((r) => r.phasePeakMb[p] ?? Number.NaN)).toFixed(0)}`)
      .join(', ')
  );
}

/** RSS of a Node process that does nothing but load `modules`, once settled (MB). */
function idleNodeRssMb(modules: readonly string[]): number {
  const script = `${modules.map((m) => `require(${JSON.stringify(m)});`).join('')}setTimeout(() => {
    const r = require('node:fs').readFileSync('/proc/self/status', 'utf8');
    process.stdout.write(r.match(/VmRSS:\\s+(\\d+)/)[1]);
  }, 300);`;
  return Number(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) / 1024;
}

/**
 * The floor under any etcd server written for this Node: the runtime alone, and with the modules
 * an etcd API and TLS peers cannot do without. Most of it is the Node binary's own pages.
 */
export function nodeRssFloor(): { bareMb: number; withHttp2TlsMb: number } {
  return {
    bareMb: idleNodeRssMb([]),
    withHttp2TlsMb: idleNodeRssMb(['node:http2', 'node:tls', 'node:net', 'node:crypto']),
  };
}
