/**
 * Our 3-node lab side by side with a real 3-member etcd (Debian's etcd-server) and, on what its
 * HTTP API can do, a 3-node dqlite (Debian's go-dqlite, dqlite-demo): one run, the systems in
 * turns, the etcd API driven by the same etcd3 client and the same workloads. Only the ratios mean
 * anything across machines.
 *   npm run bench -- compare [--against etcd,dqlite] [--seconds S] [--runs R] [--failovers N] [--quick]
 *     [--only put,get,kube,list,watch,lease,failover]
 *
 * Addresses: our lab on 127.0.30.x, etcd on 127.0.31.x, dqlite on 127.0.32.x (apart from the
 * tests, which use other loopback addresses, so both can run at once).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { labUp } from '../src/lab/formation.js';
import { labDown, labSignal, labStart, labStatus } from '../src/lab/processes.js';
import { readLab } from '../src/lab/spec.js';
import { addressOf, type EtcdCluster, etcdVersion, startEtcdCluster } from '../test/peers/etcd-cluster.js';
import {
  DqliteClient,
  type DqliteCluster,
  dqliteGetWorkload,
  dqlitePutWorkload,
  firstDqliteWriteAfter,
  startDqliteCluster,
} from './dqlite.js';
import { issueEtcdPeerTls } from './etcd-peer-tls.js';
import { firstWriteAfter } from './lab.js';
import {
  type Created,
  Exhausted,
  fillKeys,
  getWorkload,
  kubeCreateTxn,
  kubeDeleteTxn,
  kubeUpdateTxn,
  type LoadResult,
  leaseWorkload,
  listPaged,
  median,
  memoryOf,
  putWorkload,
  runLoad,
  watchLatency,
  withCpu,
} from './workloads.js';

export type PeerName = 'etcd' | 'dqlite';
export const WORKLOAD_GROUPS = ['put', 'get', 'kube', 'list', 'watch', 'lease', 'failover'] as const;
export type WorkloadGroup = (typeof WORKLOAD_GROUPS)[number];
/** Whether a run measures this group (for quick iterations on one workload). */
function wants(options: CompareOptions, group: WorkloadGroup): boolean {
  return options.only === undefined || options.only.includes(group);
}
export type SystemName = 'ours' | PeerName;
export const PEERS: readonly PeerName[] = ['etcd', 'dqlite'];

export const ADDRESSES = { ours: '127.0.30.1', etcd: '127.0.31.1', dqlite: '127.0.32.1' } as const;

export interface CompareOptions {
  seconds: number;
  runs: number;
  failovers: number;
  against: PeerName[];
  /** Keys of the paged list (default 10 000, in pages of 500). */
  listKeys: number;
  /** Puts per watch latency measurement (at most; bounded by `seconds` too). */
  watchEvents: number;
  /** Only these groups of workloads (put, get, kube, list, watch, lease, failover); all if unset. */
  only?: readonly WorkloadGroup[];
  onProgress?: (line: string) => void;
}

export interface CompareRow {
  workload: string;
  unit: string;
  ours: number;
  etcd: number;
  dqlite: number;
  /** ours / etcd for rates, etcd / ours for times and sizes: above 1 means we are better. */
  advantage: number;
  /** The same against dqlite. */
  advantageDqlite: number;
  oursRange: [number, number];
  etcdRange: [number, number];
  dqliteRange: [number, number];
  /** The issue's target for this row, if it has one, and whether this run meets it. */
  target?: string;
  met?: boolean;
}

export interface CompareResult {
  options: Omit<CompareOptions, 'onProgress'>;
  rows: CompareRow[];
  /** Every sample of every workload, per system (one per run, or per repetition). */
  samples: Record<SystemName, Record<string, number[]>>;
  /** Per member: RSS (MB) and CPU (% of one core) at idle and under load, and ops that failed. */
  members: Record<SystemName, Record<string, number[]>>;
  errors: Record<SystemName, Record<string, number>>;
  versions: Record<string, string>;
  seconds: number;
}

interface Metric {
  workload: string;
  higherIsBetter: boolean;
  /** Whether a row meets its target; undefined when the figures needed are missing. */
  target?: { label: string; check: (row: CompareRow) => boolean | undefined };
}

const ratio = (min: number, label: string): Metric['target'] => ({
  label,
  check: (row) => (Number.isFinite(row.advantage) ? row.advantage >= min : undefined),
});

/** Rows in print order, with the targets of issue 7. */
function metrics(listKeys: number): Metric[] {
  const m = (workload: string, target?: Metric['target']): Metric => ({
    workload,
    higherIsBetter: workload.endsWith('ops/s'),
    ...(target ? { target } : {}),
  });
  return [
    m('put c1 ops/s'),
    m('put c1 p50 ms', ratio(1, '<= etcd')),
    m('put c16 ops/s'),
    m('put c64 ops/s', ratio(1.5, '>= 1.5x etcd')),
    m('put c64 p50 ms'),
    m('put c64 p99 ms'),
    m('linearizable get c1 ops/s'),
    m('linearizable get c1 p50 ms', ratio(1, '<= etcd')),
    m('linearizable get c16 ops/s'),
    m('linearizable get c64 ops/s', ratio(1.5, '>= 1.5x etcd')),
    m('linearizable get c64 p99 ms'),
    m('kube create txn c64 ops/s'),
    m('kube create txn c64 p99 ms'),
    m('kube update txn c64 ops/s', ratio(1.5, '>= 1.5x etcd')),
    m('kube update txn c64 p99 ms', ratio(1, '<= etcd')),
    m('kube delete txn c64 ops/s'),
    m('kube delete txn c64 p99 ms'),
    m(`list ${listKeys} keys by 500 ms`, ratio(1, '<= etcd')),
    m('watch leader p50 ms', ratio(1, '<= etcd')),
    m('watch leader p99 ms'),
    m('watch follower p50 ms', ratio(1, '<= etcd')),
    m('watch follower p99 ms'),
    m('lease grant+keepalive c64 ops/s'),
    m('failover ms', ratio(1, '<= etcd')),
    m('RSS idle MB (max member)', {
      label: '<= 60 MB',
      check: (row) => (Number.isFinite(row.ours) ? row.ours <= 60 : undefined),
    }),
    m('RSS peak MB (max member)', ratio(2, '<= 0.5x etcd')),
    m('CPU idle % (max member)'),
    m('CPU put c64 % (max member)'),
    m('CPU ms per put c64 (all members)'),
    m('CPU ms per put c64 (client, same for all)'),
  ];
}

/** SIGKILL the lab's datastore processes, by the pids in its file (an exit hook: synchronous). */
export function killLabNodes(labDir: string): void {
  let pids: number[];
  try {
    pids = readLab(labDir).nodes.map((n) => n.pid);
  } catch {
    return; // no lab (yet)
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** CPU of the members and of the client (this process) over the put c64 phase, per put. */
function recordPutCpu(
  rec: Recorder,
  cpu: { result: LoadResult; cpuPct: number[]; cpuSeconds: number[]; clientCpuSeconds: number },
  members: Record<string, number[]>,
  run: number,
): void {
  const perPut = (seconds: number) => (seconds / cpu.result.ops) * 1000;
  rec.add('CPU put c64 % (max member)', Math.max(...cpu.cpuPct));
  rec.add('CPU ms per put c64 (all members)', perPut(cpu.cpuSeconds.reduce((a, b) => a + b, 0)));
  rec.add('CPU ms per put c64 (client, same for all)', perPut(cpu.clientCpuSeconds));
  members[`CPU put c64 % run ${run}`] = cpu.cpuPct;
}

/** A system speaking the etcd API: our lab or real etcd. */
interface EtcdLike {
  name: 'ours' | 'etcd';
  endpoints: string[];
  pids(): number[];
  leaderAndFollower(): Promise<{ leader: string; follower: string }>;
  /** SIGKILL the leader; the endpoints left, and how to start it again. */
  killLeader(): Promise<{ survivors: string[]; restart: () => Promise<void> }>;
}

/** The samples and error counts of one system, phase by phase (the compare and kube benches). */
export class Recorder {
  readonly samples: Record<string, number[]> = {};
  readonly errors: Record<string, number> = {};
  constructor(
    readonly name: string,
    private readonly progress: (line: string) => void,
  ) {}
  add(workload: string, value: number): void {
    this.samples[workload] ??= [];
    this.samples[workload].push(value);
  }
  load(prefix: string, r: LoadResult, what: { p50?: boolean; p99?: boolean } = {}): void {
    this.add(`${prefix} ops/s`, r.opsPerSecond);
    if (what.p50) this.add(`${prefix} p50 ms`, r.p50Ms);
    if (what.p99) this.add(`${prefix} p99 ms`, r.p99Ms);
    if (r.errors > 0) this.errors[prefix] = (this.errors[prefix] ?? 0) + r.errors;
  }
  /** Run one phase; a phase that fails is reported and leaves no sample (the bench goes on). */
  async phase<T>(label: string, fn: () => Promise<T>): Promise<T | undefined> {
    this.progress(`${this.name}: ${label}`);
    try {
      return await fn();
    } catch (error) {
      this.progress(
        `${this.name}: ${label} FAILED: ${error instanceof Error ? error.message : String(error)}`,
      );
      this.errors[`${label} (phase failed)`] = (this.errors[`${label} (phase failed)`] ?? 0) + 1;
      return undefined;
    }
  }
}

const VALUE_BYTES = 256;
const CONCURRENCIES = [1, 16, 64] as const;
/** Keys the update Txn rewrites; their mod revisions are cached per system, as kube-apiserver does. */
const UPDATE_KEYS = 1000;

async function measureEtcdLike(
  system: EtcdLike,
  rec: Recorder,
  run: number,
  options: CompareOptions,
  members: Record<string, number[]>,
  revisions: Map<number, string>,
): Promise<void> {
  const s = options.seconds;
  const client = new Etcd3({ hosts: system.endpoints, dialTimeout: 2000 });
  try {
    await client.put('bench/warm').value('x');
    for (const c of wants(options, 'put') ? CONCURRENCIES : []) {
      await rec.phase(`put c${c}`, async () => {
        const cpu = await withCpu(system.pids(), () => runLoad(c, s, putWorkload(client, VALUE_BYTES)));
        rec.load(`put c${c}`, cpu.result, { p50: c !== 16, p99: c === 64 });
        if (c === 64) recordPutCpu(rec, cpu, members, run);
      });
    }
    for (const c of wants(options, 'get') ? CONCURRENCIES : []) {
      await rec.phase(`linearizable get c${c}`, async () => {
        const r = await runLoad(c, s, getWorkload(client));
        rec.load(`linearizable get c${c}`, r, { p50: c === 1, p99: c === 64 });
      });
    }
    const created: Created = [];
    if (wants(options, 'kube')) {
      await rec.phase('kube create txn c64', async () => {
        const r = await runLoad(64, s, kubeCreateTxn(client, VALUE_BYTES, `bench/create/${run}/`, created));
        rec.load('kube create txn c64', r, { p99: true });
      });
      await rec.phase('kube update txn c64', async () => {
        const update = kubeUpdateTxn(client, VALUE_BYTES, UPDATE_KEYS, revisions);
        const r = await runLoad(64, s, update.op);
        rec.load('kube update txn c64', r, { p99: true });
        rec.errors['kube update txn c64 conflicts (else branch)'] =
          (rec.errors['kube update txn c64 conflicts (else branch)'] ?? 0) + update.conflicts();
      });
      await rec.phase('kube delete txn c64', async () => {
        const r = await runLoad(64, s, kubeDeleteTxn(client, created));
        rec.load('kube delete txn c64', r, { p99: true });
      });
    }
    if (wants(options, 'list'))
      await rec.phase(`list ${options.listKeys} keys by 500`, async () => {
        for (let i = 0; i < 3; i++) {
          const r = await listPaged(client, 'bench/list/', 500);
          if (r.keys !== options.listKeys)
            throw new Error(`listed ${r.keys} keys, expected ${options.listKeys}`);
          rec.add(`list ${options.listKeys} keys by 500 ms`, r.ms);
        }
      });
    const { leader, follower } = await system.leaderAndFollower();
    for (const [where, endpoint] of wants(options, 'watch')
      ? ([
          ['leader', leader],
          ['follower', follower],
        ] as const)
      : []) {
      await rec.phase(`watch on the ${where}`, async () => {
        const writer = new Etcd3({ hosts: [leader], dialTimeout: 2000 });
        const watcher = new Etcd3({ hosts: [endpoint], dialTimeout: 2000 });
        try {
          const r = await watchLatency(
            writer,
            watcher,
            `bench/watch/${run}/${where}/`,
            options.watchEvents,
            s,
          );
          rec.add(`watch ${where} p50 ms`, r.p50Ms);
          rec.add(`watch ${where} p99 ms`, r.p99Ms);
          if (r.missed > 0)
            rec.errors[`watch ${where} missed events`] =
              (rec.errors[`watch ${where} missed events`] ?? 0) + r.missed;
        } finally {
          writer.close();
          watcher.close();
        }
      });
    }
    if (wants(options, 'lease'))
      await rec.phase('lease grant+keepalive c64', async () => {
        const lease = leaseWorkload(client, 60);
        try {
          rec.load('lease grant+keepalive c64', await runLoad(64, s, lease.op));
        } finally {
          await lease.revokeAll();
        }
      });
  } finally {
    client.close();
  }
}

async function measureDqlite(
  cluster: DqliteCluster,
  rec: Recorder,
  run: number,
  options: CompareOptions,
  members: Record<string, number[]>,
): Promise<void> {
  const s = options.seconds;
  const client = new DqliteClient(
    cluster.nodes.map((n) => n.apiUrl),
    64,
  );
  try {
    for (const c of CONCURRENCIES) {
      await rec.phase(`put c${c}`, async () => {
        const pids = cluster.nodes.map((n) => n.pid);
        const put = dqlitePutWorkload(client, VALUE_BYTES);
        const cpu = await withCpu(pids, () => runLoad(c, s, put.op));
        rec.load(`put c${c}`, cpu.result, { p50: c !== 16, p99: c === 64 });
        if (put.retries() > 0) {
          const key = `put c${c} retries of "database is locked"`;
          rec.errors[key] = (rec.errors[key] ?? 0) + put.retries();
        }
        if (c === 64) recordPutCpu(rec, cpu, members, run);
      });
    }
    for (const c of CONCURRENCIES) {
      await rec.phase(`get c${c} (leader-only reads)`, async () => {
        const r = await runLoad(c, s, dqliteGetWorkload(client));
        rec.load(`linearizable get c${c}`, r, { p50: c === 1, p99: c === 64 });
      });
    }
  } finally {
    await client.close();
  }
}

function versionOf(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: 10_000 }).trim().split('\n')[0]!;
  } catch {
    return 'unknown';
  }
}

/** Install the peers from Debian's packages when they are missing (bench/setup/install-peers.sh). */
export function installPeers(peers: readonly PeerName[]): void {
  if (peers.length === 0) return;
  execFileSync('bash', [join(import.meta.dirname, 'setup', 'install-peers.sh'), ...peers], {
    stdio: 'inherit',
    timeout: 600_000,
  });
}

export const range = (v: number[]): [number, number] => {
  const f = v.filter((x) => !Number.isNaN(x));
  return f.length === 0 ? [Number.NaN, Number.NaN] : [Math.min(...f), Math.max(...f)];
};

export async function runCompare(options: CompareOptions): Promise<CompareResult> {
  const t0 = performance.now();
  const progress = options.onProgress ?? (() => undefined);
  const withEtcd = options.against.includes('etcd');
  const withDqlite = options.against.includes('dqlite');
  installPeers(options.against);
  const labDir = mkdtempSync(join(tmpdir(), 'mk8s-compare-'));
  let etcd: EtcdCluster | undefined;
  let dqlite: DqliteCluster | undefined;
  const recorders = {
    ours: new Recorder('ours', progress),
    etcd: new Recorder('etcd', progress),
    dqlite: new Recorder('dqlite', progress),
  };
  const members: Record<SystemName, Record<string, number[]>> = { ours: {}, etcd: {}, dqlite: {} };
  const versions: Record<string, string> = {};
  let names: SystemName[] = ['ours'];
  const revisions = { ours: new Map<number, string>(), etcd: new Map<number, string>() };
  // A bench stopped by a signal (cli.ts turns SIGINT/SIGTERM into exit) leaves no lab node
  // running; etcd and dqlite have exit hooks of their own.
  const killLabOnExit = () => {
    killLabNodes(labDir);
    rmSync(labDir, { recursive: true, force: true });
  };
  process.once('exit', killLabOnExit);
  try {
    progress(`starting our 3-node lab on ${ADDRESSES.ours}-3`);
    const nodes = await labUp({
      nodes: 3,
      dir: labDir,
      baseAddress: ADDRESSES.ours,
      // Plain TCP clients, as etcd is driven: the same datastore, no TLS cost on one side only.
      formation: 'seed',
    });
    if (withEtcd) {
      progress(`starting a 3-member etcd on ${ADDRESSES.etcd}-3`);
      const etcdAddresses = [0, 1, 2].map((i) => addressOf(ADDRESSES.etcd, i));
      etcd = await startEtcdCluster({
        size: 3,
        baseAddress: ADDRESSES.etcd,
        peerTls: await issueEtcdPeerTls(join(labDir, 'etcd-peer-tls'), etcdAddresses),
      });
      versions.etcd = etcdVersion().replace(/^etcd Version:\s*/, '');
    }
    if (withDqlite) {
      progress(`starting a 3-node dqlite-demo on ${ADDRESSES.dqlite}-3`);
      dqlite = await startDqliteCluster({ size: 3, baseAddress: ADDRESSES.dqlite });
      versions.dqlite = versionOf('dpkg-query', ['-W', 'go-dqlite']).split('\t')[1] ?? 'unknown';
    }
    const ours: EtcdLike = {
      name: 'ours',
      endpoints: nodes.map((n) => n.clientEndpoint),
      pids: () => readLab(labDir).nodes.map((n) => n.pid),
      async leaderAndFollower() {
        const status = await labStatus(labDir);
        const leader = status.find((n) => n.state === 'leader');
        const follower = status.find((n) => n.running && n.state !== 'leader');
        if (!leader || !follower) throw new Error('our lab has no leader or no follower');
        return { leader: leader.clientEndpoint, follower: follower.clientEndpoint };
      },
      async killLeader() {
        const leader = (await labStatus(labDir)).find((n) => n.state === 'leader');
        if (!leader) throw new Error('our lab has no leader');
        await labSignal(labDir, leader.name, 'SIGKILL');
        return {
          survivors: nodes.filter((n) => n.name !== leader.name).map((n) => n.clientEndpoint),
          restart: async () => {
            await labStart(labDir, leader.name);
          },
        };
      },
    };
    const systems: EtcdLike[] = [ours];
    if (etcd) {
      const cluster = etcd;
      systems.push({
        name: 'etcd',
        endpoints: cluster.endpoints,
        pids: () => cluster.members.map((m) => m.pid),
        async leaderAndFollower() {
          const i = await cluster.leaderIndex();
          return {
            leader: cluster.endpoints[i]!,
            follower: cluster.endpoints[(i + 1) % cluster.endpoints.length]!,
          };
        },
        async killLeader() {
          const i = await cluster.leaderIndex();
          await cluster.kill(i, 'SIGKILL');
          return {
            survivors: cluster.endpoints.filter((_, j) => j !== i),
            restart: () => cluster.restart(i),
          };
        },
      });
    }
    const pidsOf = (name: SystemName): number[] =>
      name === 'dqlite'
        ? (dqlite?.nodes.map((n) => n.pid) ?? [])
        : (systems.find((x) => x.name === name)?.pids() ?? []);
    names = [...systems.map((x) => x.name), ...(dqlite ? (['dqlite'] as const) : [])];

    // Idle: every system up and quiet; RSS now, CPU over a 3 s window (all systems at once).
    await sleep(2000);
    const allPids = names.flatMap((n) => pidsOf(n));
    const idle = await withCpu(allPids, () => sleep(3000));
    let k = 0;
    for (const name of names) {
      const pids = pidsOf(name);
      const cpu = idle.cpuPct.slice(k, k + pids.length);
      k += pids.length;
      const rss = pids.map((p) => memoryOf(p).rssMb);
      members[name]['RSS idle MB'] = rss;
      members[name]['CPU idle %'] = cpu;
      recorders[name].add('RSS idle MB (max member)', Math.max(...rss));
      recorders[name].add('CPU idle % (max member)', Math.max(...cpu));
    }

    // The keys the paged list reads, written once per system; the keys the update Txn rewrites,
    // created once, their revisions cached.
    for (const system of systems) {
      await recorders[system.name].phase(
        `writing ${options.listKeys} keys to list, ${UPDATE_KEYS} to update`,
        async () => {
          const client = new Etcd3({ hosts: system.endpoints, dialTimeout: 2000 });
          try {
            if (wants(options, 'list')) await fillKeys(client, 'bench/list/', options.listKeys, VALUE_BYTES);
            if (!wants(options, 'kube')) return;
            const update = kubeUpdateTxn(client, VALUE_BYTES, UPDATE_KEYS, revisions[system.name]);
            await runLoad(64, 60, async (i) => {
              if (i >= UPDATE_KEYS) throw new Exhausted('every key written once');
              await update.op(i);
            });
          } finally {
            client.close();
          }
        },
      );
    }
    if (dqlite) {
      // The keys the get workload reads.
      await recorders.dqlite.phase('writing the keys to get', async () => {
        const client = new DqliteClient(
          dqlite!.nodes.map((n) => n.apiUrl),
          16,
        );
        try {
          const put = dqlitePutWorkload(client, VALUE_BYTES, 30_000);
          for (let i = 0; i < 1000; i += 16)
            await Promise.all(Array.from({ length: 16 }, (_, j) => put.op(i + j)));
        } finally {
          await client.close();
        }
      });
    }

    // In turns: ours, etcd, dqlite, ours, ... so drift in the machine hits all alike.
    for (let run = 0; run < options.runs; run++) {
      for (const name of names) {
        progress(`run ${run + 1}/${options.runs}: ${name}`);
        const system = systems.find((x) => x.name === name);
        if (system) {
          await measureEtcdLike(system, recorders[name], run, options, members[name], revisions[system.name]);
        } else if (dqlite) await measureDqlite(dqlite, recorders.dqlite, run, options, members.dqlite);
      }
    }
    for (const name of names) {
      const peak = pidsOf(name).map((p) => memoryOf(p).peakMb);
      members[name]['RSS peak MB'] = peak;
      recorders[name].add('RSS peak MB (max member)', Math.max(...peak));
    }

    // Failover, in turns too: SIGKILL the leader, time until a write through a survivor succeeds.
    for (let i = 0; i < (wants(options, 'failover') ? options.failovers : 0); i++) {
      for (const name of names) {
        await recorders[name].phase(`failover ${i + 1}/${options.failovers}`, async () => {
          const system = systems.find((x) => x.name === name);
          if (system) {
            const start = performance.now();
            const { survivors, restart } = await system.killLeader();
            const ms = await firstWriteAfter(survivors, start, 30_000);
            recorders[name].add('failover ms', ms);
            await restart();
          } else if (dqlite) {
            const leader = await dqlite.leaderIndex();
            const start = performance.now();
            await dqlite.kill(leader, 'SIGKILL');
            const survivors = dqlite.nodes.filter((_, j) => j !== leader).map((n) => n.apiUrl);
            recorders.dqlite.add('failover ms', await firstDqliteWriteAfter(survivors, start, 30_000));
            await dqlite.restart(leader);
          }
          await sleep(1500);
        });
      }
    }
  } finally {
    process.off('exit', killLabOnExit);
    progress('stopping');
    await labDown(labDir).catch(() => 0);
    rmSync(labDir, { recursive: true, force: true });
    await etcd?.stop();
    await dqlite?.stop();
  }

  const rows: CompareRow[] = [];
  const listed = metrics(options.listKeys);
  const known = new Set(listed.map((m) => m.workload));
  const extra = [...new Set(Object.values(recorders).flatMap((r) => Object.keys(r.samples)))].filter(
    (w) => !known.has(w),
  );
  for (const metric of [
    ...listed,
    ...extra.map((workload) => ({ workload, higherIsBetter: workload.endsWith('ops/s') })),
  ] as Metric[]) {
    const values = (name: SystemName) => recorders[name].samples[metric.workload] ?? [];
    if (names.every((n) => values(n).length === 0)) continue;
    const ours = median(values('ours'));
    const etcdMedian = median(values('etcd'));
    const dqliteMedian = median(values('dqlite'));
    const adv = (theirs: number) => (metric.higherIsBetter ? ours / theirs : theirs / ours);
    const row: CompareRow = {
      workload: metric.workload,
      unit: metric.workload.includes('ops/s')
        ? 'ops/s'
        : metric.workload.includes(' MB')
          ? 'MB'
          : metric.workload.includes('%')
            ? '%'
            : 'ms',
      ours,
      etcd: etcdMedian,
      dqlite: dqliteMedian,
      advantage: adv(etcdMedian),
      advantageDqlite: adv(dqliteMedian),
      oursRange: range(values('ours')),
      etcdRange: range(values('etcd')),
      dqliteRange: range(values('dqlite')),
    };
    if (metric.target) {
      row.target = metric.target.label;
      const met = metric.target.check(row);
      if (met !== undefined) row.met = met;
    }
    rows.push(row);
  }
  const { onProgress: _, ...rest } = options;
  return {
    options: rest,
    rows,
    samples: { ours: recorders.ours.samples, etcd: recorders.etcd.samples, dqlite: recorders.dqlite.samples },
    members,
    errors: { ours: recorders.ours.errors, etcd: recorders.etcd.errors, dqlite: recorders.dqlite.errors },
    versions,
    seconds: (performance.now() - t0) / 1000,
  };
}
