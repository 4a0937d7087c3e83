/**
 * Our 3-node lab and a real 3-member etcd (Debian's etcd-server) side by side, in one run, driven
 * in turns by the same etcd3 client and the same workloads. Only the ratios mean anything across
 * machines.
 *   npm run bench -- compare [--seconds S] [--runs R] [--failovers N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { labDown, labSignal, labStart, labStatus, labUp, readLab } from '../src/datastore/lab/lab.js';
import { type EtcdCluster, startEtcdCluster } from '../test/peers/etcd-cluster.js';
import { firstWriteAfter } from './lab.js';
import { median, memoryOf, putWorkload, runLoad } from './workloads.js';

interface System {
  name: string;
  endpoints: string[];
  pids(): number[];
  killLeader(): Promise<{ survivors: string[]; restart: () => Promise<void> }>;
}

export interface CompareRow {
  workload: string;
  ours: number;
  etcd: number;
  unit: string;
  /** ours / etcd for rates, etcd / ours for times and sizes: above 1 means we are better. */
  advantage: number;
  oursRange: [number, number];
  etcdRange: [number, number];
}

function kubeUpdateTxn(client: Etcd3, valueBytes: number): (i: number) => Promise<unknown> {
  const value = Buffer.alloc(valueBytes, 121);
  // kube-apiserver's update: if mod_revision(key) == N then put else get.
  return async (i) => {
    const key = `bench/kube/${i % 1000}`;
    const current = await client.get(key).exec();
    const mod = current.kvs[0]?.mod_revision ?? '0';
    await client.kv.txn({
      compare: [{ key: Buffer.from(key), target: 'Mod', result: 'Equal', mod_revision: mod }],
      success: [{ request_put: { key: Buffer.from(key), value } }],
      failure: [{ request_range: { key: Buffer.from(key) } }],
    });
  };
}

async function measure(system: System, runs: number, seconds: number): Promise<Record<string, number[]>> {
  const client = new Etcd3({ hosts: system.endpoints, dialTimeout: 2000 });
  const out: Record<string, number[]> = {};
  const add = (k: string, v: number) => {
    out[k] ??= [];
    out[k].push(v);
  };
  try {
    await client.put('bench/warm').value('x');
    for (let r = 0; r < runs; r++) {
      for (const c of [1, 16, 64]) {
        const put = await runLoad(c, seconds, putWorkload(client, 256));
        add(`put c${c} ops/s`, put.opsPerSecond);
        if (c === 64) add('put c64 p99 ms', put.p99Ms);
      }
      const get = await runLoad(64, seconds, (i) => client.get(`bench/put/${i % 1000}`).string());
      add('linearizable get c64 ops/s', get.opsPerSecond);
      const txn = await runLoad(64, seconds, kubeUpdateTxn(client, 256));
      add('kube update txn c64 ops/s', txn.opsPerSecond);
    }
  } finally {
    client.close();
  }
  return out;
}

export async function runCompare(options: {
  seconds: number;
  runs: number;
  failovers: number;
}): Promise<CompareRow[]> {
  const labDir = mkdtempSync(join(tmpdir(), 'mk8s-compare-'));
  let etcd: EtcdCluster | undefined;
  try {
    const nodes = await labUp({ nodes: 3, dir: labDir, baseAddress: '127.0.16.1' });
    etcd = await startEtcdCluster({ size: 3, baseAddress: '127.0.17.1' });
    const cluster = etcd;
    const ours: System = {
      name: 'ours',
      endpoints: nodes.map((n) => n.clientEndpoint),
      pids: () => readLab(labDir).nodes.map((n) => n.pid),
      async killLeader() {
        const leader = (await labStatus(labDir)).find((n) => n.state === 'leader')!;
        await labSignal(labDir, leader.name, 'SIGKILL');
        return {
          survivors: nodes.filter((n) => n.name !== leader.name).map((n) => n.clientEndpoint),
          restart: async () => {
            await labStart(labDir, leader.name);
          },
        };
      },
    };
    const theirs: System = {
      name: 'etcd',
      endpoints: cluster.endpoints,
      pids: () => cluster.members.map((m) => m.pid),
      async killLeader() {
        const i = await cluster.leaderIndex();
        await cluster.kill(i, 'SIGKILL');
        return { survivors: cluster.endpoints.filter((_, j) => j !== i), restart: () => cluster.restart(i) };
      },
    };
    await new Promise((r) => setTimeout(r, 1000));
    const results: Record<string, Record<string, number[]>> = { ours: {}, etcd: {} };
    const idle: Record<string, number[]> = {};
    for (const system of [ours, theirs]) idle[system.name] = system.pids().map((p) => memoryOf(p).rssMb);
    // In turns: ours, etcd, ours, etcd... so drift in the machine hits both alike.
    for (let r = 0; r < options.runs; r++) {
      for (const system of [ours, theirs]) {
        const m = await measure(system, 1, options.seconds);
        const into = results[system.name]!;
        for (const [k, v] of Object.entries(m)) into[k] = [...(into[k] ?? []), ...v];
      }
    }
    const peak: Record<string, number[]> = {};
    for (const system of [ours, theirs]) peak[system.name] = system.pids().map((p) => memoryOf(p).peakMb);
    for (const system of [ours, theirs]) {
      const times: number[] = [];
      for (let i = 0; i < options.failovers; i++) {
        const start = performance.now();
        const { survivors, restart } = await system.killLeader();
        times.push(await firstWriteAfter(survivors, start, 30_000));
        await restart();
        await new Promise((r) => setTimeout(r, 1500));
      }
      results[system.name]!['failover ms'] = times;
    }
    results.ours!['RSS idle MB (max member)'] = [Math.max(...idle.ours!)];
    results.etcd!['RSS idle MB (max member)'] = [Math.max(...idle.etcd!)];
    results.ours!['RSS peak MB (max member)'] = [Math.max(...peak.ours!)];
    results.etcd!['RSS peak MB (max member)'] = [Math.max(...peak.etcd!)];
    const rows: CompareRow[] = [];
    for (const workload of Object.keys(results.ours!)) {
      const a = results.ours![workload]!;
      const b = results.etcd![workload] ?? [];
      const higherIsBetter = workload.includes('ops/s');
      const oursMedian = median(a);
      const etcdMedian = median(b);
      rows.push({
        workload,
        ours: oursMedian,
        etcd: etcdMedian,
        unit: workload.split(' ').at(-1)!,
        advantage: higherIsBetter ? oursMedian / etcdMedian : etcdMedian / oursMedian,
        oursRange: [Math.min(...a), Math.max(...a)],
        etcdRange: [Math.min(...b), Math.max(...b)],
      });
    }
    return rows;
  } finally {
    await labDown(labDir).catch(() => 0);
    rmSync(labDir, { recursive: true, force: true });
    await etcd?.stop();
  }
}
