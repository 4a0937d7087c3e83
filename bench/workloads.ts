/**
 * Workloads driven through the npm etcd3 client, identical for every system under test, so the
 * figures of one run can be compared as ratios. The shapes are those kube-apiserver sends: the
 * create, update and delete Txns, paged lists, watches and leases.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';

export interface LoadResult {
  ops: number;
  errors: number;
  seconds: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** Thrown by an op when its workload has nothing left to do (the loop that called it ends). */
export class Exhausted extends Error {}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * Run `op` from `concurrency` loops for `seconds` (or until an op throws `Exhausted`); each loop
 * waits for its previous op. Failed ops count as errors, not in the rate or the latencies.
 */
export async function runLoad(
  concurrency: number,
  seconds: number,
  op: (i: number) => Promise<unknown>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let counter = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          await op(counter++);
          latencies.push(performance.now() - t0);
        } catch (error) {
          if (error instanceof Exhausted) return;
          errors++;
          if (process.env.BENCH_DEBUG) console.error(String(error));
        }
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    ops: latencies.length,
    errors,
    seconds: elapsed,
    opsPerSecond: latencies.length / elapsed,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

export function putWorkload(client: Etcd3, valueBytes: number): (i: number) => Promise<unknown> {
  const value = Buffer.alloc(valueBytes, 120);
  return async (i) => {
    await client.put(`bench/put/${i % 10_000}`).value(value);
  };
}

/** Linearizable (the etcd3 client's default, serializable=false) get of keys the put phase wrote. */
export function getWorkload(client: Etcd3): (i: number) => Promise<unknown> {
  return async (i) => {
    await client.get(`bench/put/${i % 1000}`).buffer();
  };
}

/** What the create workload made, for the delete workload: key and the revision that created it. */
export type Created = { key: Buffer; revision: string }[];

/** kube-apiserver's create: if mod_revision(key) == 0 then put (a new key per op). */
export function kubeCreateTxn(
  client: Etcd3,
  valueBytes: number,
  prefix: string,
  created: Created,
): (i: number) => Promise<unknown> {
  const value = Buffer.alloc(valueBytes, 122);
  return async (i) => {
    const key = Buffer.from(`${prefix}${i}`);
    const res = await client.kv.txn({
      compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: 0 }],
      success: [{ request_put: { key, value } }],
      failure: [],
    });
    if (!res.succeeded) throw new Error(`create of ${key} found the key already there`);
    created.push({ key, revision: res.header.revision });
  };
}

/**
 * kube-apiserver's update (GuaranteedUpdate): if mod_revision(key) == N then put else get, with N
 * from its cache (here: the last answer seen for that key), so one round trip per op; a conflict
 * refreshes N from the else branch, as kube-apiserver does before it retries. Pass the same
 * `revisions` to keep the cache from one phase to the next.
 */
export function kubeUpdateTxn(
  client: Etcd3,
  valueBytes: number,
  keys = 1000,
  revisions = new Map<number, string>(),
): { op: (i: number) => Promise<unknown>; conflicts: () => number } {
  const value = Buffer.alloc(valueBytes, 121);
  let conflicts = 0;
  return {
    conflicts: () => conflicts,
    op: async (i) => {
      const k = i % keys;
      const key = Buffer.from(`bench/kube/${k}`);
      const res = await client.kv.txn({
        compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: revisions.get(k) ?? '0' }],
        success: [{ request_put: { key, value } }],
        failure: [{ request_range: { key } }],
      });
      if (res.succeeded) {
        revisions.set(k, res.header.revision);
      } else {
        conflicts++;
        revisions.set(k, res.responses[0]?.response_range?.kvs[0]?.mod_revision ?? '0');
      }
    },
  };
}

/** kube-apiserver's delete: if mod_revision(key) == N then delete else get, over created keys. */
export function kubeDeleteTxn(client: Etcd3, created: Created): (i: number) => Promise<unknown> {
  return async () => {
    const item = created.pop();
    if (!item) throw new Exhausted('every created key is deleted');
    const res = await client.kv.txn({
      compare: [{ key: item.key, target: 'Mod', result: 'Equal', mod_revision: item.revision }],
      success: [{ request_delete_range: { key: item.key } }],
      failure: [{ request_range: { key: item.key } }],
    });
    if (!res.succeeded) throw new Error(`delete of ${item.key} at revision ${item.revision} failed`);
  };
}

/** The end of the range holding every key that starts with `prefix`. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Write `count` keys `${prefix}000000`... of `valueBytes`, 64 at a time; bounded by `timeoutMs`. */
export async function fillKeys(
  client: Etcd3,
  prefix: string,
  count: number,
  valueBytes: number,
  timeoutMs = 180_000,
): Promise<void> {
  const value = Buffer.alloc(valueBytes, 108);
  const deadline = performance.now() + timeoutMs;
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < count) {
        if (performance.now() > deadline) throw new Error(`filling ${count} keys took over ${timeoutMs} ms`);
        const i = next++;
        let tries = 0;
        for (;;) {
          try {
            await client.put(`${prefix}${String(i).padStart(6, '0')}`).value(value);
            break;
          } catch (error) {
            if (++tries >= 5) throw error;
            await sleep(100);
          }
        }
      }
    }),
  );
}

export interface ListResult {
  ms: number;
  keys: number;
  pages: number;
}

/**
 * List every key under `prefix` the way kube-apiserver pages: range with a limit; the first page
 * is a linearizable read whose revision the next pages pin; each next page starts right after the
 * last key of the previous one. Bounded by `maxPages`.
 */
export async function listPaged(
  client: Etcd3,
  prefix: string,
  limit: number,
  maxPages = 10_000,
): Promise<ListResult> {
  const end = prefixEnd(Buffer.from(prefix));
  let key = Buffer.from(prefix);
  let revision: string | undefined;
  let keys = 0;
  let pages = 0;
  const start = performance.now();
  while (pages < maxPages) {
    const res = await client.kv.range({ key, range_end: end, limit, ...(revision ? { revision } : {}) });
    pages++;
    revision ??= res.header.revision;
    keys += res.kvs.length;
    const last = res.kvs.at(-1);
    if (!res.more || !last) break;
    key = Buffer.concat([last.key, Buffer.from([0])]);
  }
  return { ms: performance.now() - start, keys, pages };
}

export interface WatchLatency {
  p50Ms: number;
  p99Ms: number;
  events: number;
  missed: number;
}

/** p50 and p99 of the latencies seen (sorted in place), and how many of `expected` never came. */
export function latencySummary(latencies: number[], expected: number): WatchLatency {
  latencies.sort((a, b) => a - b);
  return {
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    events: latencies.length,
    missed: expected - latencies.length,
  };
}

/**
 * Delivery latency of watch events: `writer` puts keys one at a time (concurrency 1) while
 * `watcher` (connected to the member under test) watches their prefix; latency is from the start
 * of the put to the arrival of its event. At most `count` puts or `seconds`, whichever is first.
 */
export async function watchLatency(
  writer: Etcd3,
  watcher: Etcd3,
  prefix: string,
  count: number,
  seconds: number,
  valueBytes = 256,
): Promise<WatchLatency> {
  const value = Buffer.alloc(valueBytes, 119);
  const sent: number[] = [];
  const latencies: number[] = [];
  const w = await watcher.watch().prefix(prefix).create();
  try {
    w.on('put', (kv) => {
      const seq = Number(kv.key.toString().slice(prefix.length));
      const t0 = sent[seq];
      if (t0 !== undefined) latencies.push(performance.now() - t0);
    });
    const deadline = performance.now() + seconds * 1000;
    let n = 0;
    while (n < count && performance.now() < deadline) {
      sent[n] = performance.now();
      await writer.put(`${prefix}${n}`).value(value);
      n++;
    }
    const drain = performance.now() + 2000;
    while (latencies.length < n && performance.now() < drain) await sleep(5);
    return latencySummary(latencies, n);
  } finally {
    await w.cancel().catch(() => undefined);
  }
}

/**
 * Lease grant then one keep-alive of that lease (a fresh keep-alive stream, as a client that
 * refreshes a lease once does). The leases are collected for `revokeAll` after the phase.
 */
export function leaseWorkload(
  client: Etcd3,
  ttlSeconds: number,
): { op: (i: number) => Promise<unknown>; revokeAll: (timeoutMs?: number) => Promise<number> } {
  const leases: ReturnType<Etcd3['lease']>[] = [];
  return {
    op: async () => {
      const lease = client.lease(ttlSeconds, { autoKeepAlive: false });
      lease.on('lost', () => undefined);
      leases.push(lease);
      await lease.grant();
      await lease.keepaliveOnce();
    },
    revokeAll: async (timeoutMs = 20_000) => {
      const deadline = performance.now() + timeoutMs;
      let revoked = 0;
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (performance.now() < deadline) {
            const lease = leases.pop();
            if (!lease) return;
            try {
              await lease.revoke();
              revoked++;
            } catch {
              lease.release();
            }
          }
        }),
      );
      for (const lease of leases.splice(0)) lease.release();
      return revoked;
    },
  };
}

/** Resident set size and its peak, in MB, of a process (Linux /proc). */
export function memoryOf(pid: number): { rssMb: number; peakMb: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
    return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
  } catch {
    return { rssMb: Number.NaN, peakMb: Number.NaN };
  }
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks =
        Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU time (user + system) a process has used, in seconds (Linux /proc/<pid>/stat). */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return Number.NaN;
  }
}

/** Run `fn` and report the CPU time of each pid meanwhile, in seconds and in % of one core. */
export async function withCpu<T>(
  pids: number[],
  fn: () => Promise<T>,
): Promise<{ result: T; cpuSeconds: number[]; cpuPct: number[]; clientCpuSeconds: number }> {
  const before = pids.map(cpuSecondsOf);
  const selfBefore = process.cpuUsage();
  const t0 = performance.now();
  const result = await fn();
  const wall = (performance.now() - t0) / 1000;
  const cpuSeconds = pids.map((p, i) => cpuSecondsOf(p) - before[i]!);
  // The client runs in this process: its share of the 2 cores bounds what any server can reach.
  const self = process.cpuUsage(selfBefore);
  const clientCpuSeconds = (self.user + self.system) / 1e6;
  return { result, cpuSeconds, cpuPct: cpuSeconds.map((s) => (s / wall) * 100), clientCpuSeconds };
}

export function median(values: number[]): number {
  const s = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}
