/**
 * Figures of our 3-node lab: writes/s at concurrency 1, 16 and 64, failover time after SIGKILL of
 * the leader (median of several runs) and RSS per node at idle and under load.
 *   npm run bench -- lab [--seconds S] [--failovers N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { labUp } from '../src/lab/formation.js';
import { labDown, labSignal, labStart, labStatus } from '../src/lab/processes.js';
import { readLab } from '../src/lab/spec.js';
import { median, memoryOf, putWorkload, runLoad } from './workloads.js';

export interface LabBenchResult {
  writes: { concurrency: number; opsPerSecond: number; p50Ms: number; p99Ms: number; errors: number }[];
  failoverMs: number[];
  failoverMedianMs: number;
  rssIdleMb: number[];
  rssPeakMb: number[];
}

/**
 * Time until a write succeeds again. Each attempt uses a fresh client: the etcd3 client's circuit
 * breaker would otherwise add its own multi-second back-off to whatever the servers do.
 */
export async function firstWriteAfter(hosts: string[], start: number, timeoutMs: number): Promise<number> {
  while (performance.now() - start < timeoutMs) {
    const client = new Etcd3({
      hosts,
      dialTimeout: 500,
      defaultCallOptions: () => ({ deadline: Date.now() + 200 }),
    });
    try {
      await client.put('bench/failover').value(String(Date.now()));
      return performance.now() - start;
    } catch (error) {
      if (process.env.BENCH_DEBUG) console.error(String(error));
      await sleep(10);
    } finally {
      client.close();
    }
  }
  return Number.NaN;
}

export async function runLabBench(options: {
  seconds: number;
  failovers: number;
  baseAddress?: string;
}): Promise<LabBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'mk8s-bench-lab-'));
  try {
    const nodes = await labUp({
      nodes: 3,
      dir,
      baseAddress: options.baseAddress ?? '127.0.30.1',
      // Plain TCP clients, as etcd is driven: the same datastore, no TLS cost on one side only.
      formation: 'seed',
    });
    const client = new Etcd3({ hosts: nodes.map((n) => n.clientEndpoint), dialTimeout: 2000 });
    await sleep(1000);
    const rssIdleMb = readLab(dir).nodes.map((n) => memoryOf(n.pid).rssMb);
    const writes: LabBenchResult['writes'] = [];
    for (const concurrency of [1, 16, 64]) {
      const r = await runLoad(concurrency, options.seconds, putWorkload(client, 256));
      writes.push({
        concurrency,
        opsPerSecond: r.opsPerSecond,
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
        errors: r.errors,
      });
    }
    const rssPeakMb = readLab(dir).nodes.map((n) => memoryOf(n.pid).peakMb);
    const failoverMs: number[] = [];
    for (let i = 0; i < options.failovers; i++) {
      const leader = (await labStatus(dir)).find((n) => n.state === 'leader');
      if (!leader) break;
      const start = performance.now();
      await labSignal(dir, leader.name, 'SIGKILL');
      const survivors = nodes.filter((n) => n.name !== leader.name).map((n) => n.clientEndpoint);
      failoverMs.push(await firstWriteAfter(survivors, start, 30_000));
      await labStart(dir, leader.name);
      await sleep(1500);
    }
    client.close();
    return { writes, failoverMs, failoverMedianMs: median(failoverMs), rssIdleMb, rssPeakMb };
  } finally {
    await labDown(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}
