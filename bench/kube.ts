/**
 * The same kube-apiserver binary on three datastores, in one run (bench/kube-datastores.ts): our
 * 3-node datastore, a 3-member etcd 3.6 and a 3-member Debian etcd 3.4. For each in turn: the
 * datastore, then one whole Kubernetes node (`microk8s start --etcd-endpoints ...`: kube-apiserver,
 * controller-manager, scheduler, kubelet, containerd) against it, the workloads through the
 * Kubernetes API (bench/kube-workloads.ts), the node stopped, the datastore stopped.
 *   flock /tmp/mk8s-test.lock npm run bench -- kube [--runs R] [--seconds S] [--pods N] [--list-objects N] [--quick]
 * (cli.ts takes the lock itself when no caller holds it, and moves the whole run into a network
 * namespace of its own, 10.201.20.2, where every datastore is on loopback addresses.)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseKubeconfig } from '../src/cluster/pki/kubeconfig.js';
import { KubeNode, ROOT, until } from '../test/kubernetes/node-cli.js';
import { waitReady } from '../test/kubernetes/scenario.js';
import { killLabNodes, Recorder, range } from './compare.js';
import { KubeApi } from './kube-api.js';
import { type DatastoreName, type KubeDatastore, startEtcd, startOurs } from './kube-datastores.js';
import {
  createConfigMaps,
  deleteConfigMaps,
  ensureNamespace,
  fillConfigMaps,
  firstApiWriteAfter,
  listConfigMaps,
  podsToRunning,
  type Stored,
  updateConfigMaps,
  watchLatency,
} from './kube-workloads.js';
import { median, memoryOf, runLoad, withCpu } from './workloads.js';

export interface KubeBenchOptions {
  /** The node's address (inside the bench's network namespace). */
  address: string;
  seconds: number;
  runs: number;
  failovers: number;
  pods: number;
  listObjects: number;
  watchEvents: number;
  /** Only these datastores (default all three, in this order). */
  datastores: readonly DatastoreName[];
  /** Run our datastore's nodes under node --cpu-prof, the profiles written here. */
  profileDir?: string;
  onProgress?: (line: string) => void;
}

export interface KubeRow {
  workload: string;
  medians: Record<string, number>;
  ranges: Record<string, [number, number]>;
  /** ours against each etcd: ours/etcd for rates, etcd/ours for times and sizes (above 1: ours better). */
  advantage: Record<string, number>;
  target?: string;
  met?: boolean;
}

export interface KubeBenchResult {
  options: Omit<KubeBenchOptions, 'onProgress'>;
  rows: KubeRow[];
  samples: Record<string, Record<string, number[]>>;
  errors: Record<string, Record<string, number>>;
  versions: Record<string, string>;
  transports: Record<string, string>;
  seconds: number;
}

/** The node's address in the bench's own network namespace (the lab subnet of this bench). */
export const KUBE_BENCH_ADDRESS = '10.201.20.2';
const CONCURRENCIES = [1, 16, 64] as const;
/** ConfigMaps the update workload rewrites, made once per datastore. */
const UPDATE_OBJECTS = 1000;
const POD_TIMEOUT_MS = 3 * 60_000;

/** Rows in print order; `vs36` marks the targets (against etcd 3.6). */
function metrics(listObjects: number, pods: number): { workload: string; target?: string }[] {
  const rows: { workload: string; target?: string }[] = [];
  for (const op of ['create', 'update', 'delete']) {
    rows.push(
      { workload: `cm ${op} c1 ops/s` },
      { workload: `cm ${op} c1 p50 ms` },
      { workload: `cm ${op} c16 ops/s` },
      { workload: `cm ${op} c64 ops/s`, target: '>= 1.0x etcd 3.6' },
      { workload: `cm ${op} c64 p50 ms` },
      { workload: `cm ${op} c64 p99 ms`, target: '<= etcd 3.6' },
    );
  }
  rows.push(
    { workload: `${pods} pods create->Running p50 ms` },
    { workload: `${pods} pods create->Running p99 ms` },
    { workload: `${pods} pods all Running ms` },
    { workload: `list ${listObjects} rv=0 (watch cache) ms` },
    { workload: `list ${listObjects} consistent ms` },
    { workload: `list ${listObjects} by 500 ms` },
    { workload: 'watch event p50 ms' },
    { workload: 'watch event p99 ms' },
    { workload: 'write accepted after leader SIGKILL ms', target: '<= etcd 3.6' },
    { workload: 'datastore RSS idle MB (max member)' },
    { workload: 'datastore RSS under load MB (max member)', target: '<= etcd 3.6' },
    { workload: 'datastore RSS peak MB (max member)' },
    { workload: 'datastore CPU idle % (all members)' },
    { workload: 'datastore CPU cm create c64 % (all members)' },
    { workload: 'datastore CPU ms per cm create c64' },
    { workload: 'kube-apiserver RSS idle MB' },
    { workload: 'kube-apiserver RSS peak MB' },
    { workload: 'kube-apiserver CPU idle %' },
    { workload: 'kube-apiserver CPU cm create c64 %' },
  );
  return rows;
}

/** The image every pod runs: the pause image the build imported (no process beyond pause). */
async function pauseImage(node: KubeNode): Promise<string> {
  const names = (await node.ok(['ctr', 'images', 'list', '--quiet'])).split('\n');
  const image = names.find((n) => n.startsWith('localhost/microk8s/pause:'));
  if (!image) throw new Error(`no pause image imported: ${names.join(', ')}`);
  return image;
}

/** Run `fn`, sampling the RSS of `pids` every 250 ms: the largest seen per pid. */
async function withRss<T>(pids: number[], fn: () => Promise<T>): Promise<{ result: T; maxRssMb: number[] }> {
  const max = pids.map((p) => memoryOf(p).rssMb);
  const timer = setInterval(() => {
    pids.forEach((p, i) => {
      max[i] = Math.max(max[i]!, memoryOf(p).rssMb);
    });
  }, 250);
  try {
    return { result: await fn(), maxRssMb: max };
  } finally {
    clearInterval(timer);
  }
}

/** Stop a node synchronously (an exit hook: a bench stopped by a signal leaves no node behind). */
function stopNodeNow(home: string): void {
  try {
    execFileSync(process.execPath, [join(ROOT, 'bin', 'run.js'), 'stop'], {
      env: { ...process.env, MICROK8S_HOME: home },
      stdio: 'ignore',
      timeout: 120_000,
    });
  } catch {
    // The namespace's removal kills what is left.
  }
  rmSync(home, { recursive: true, force: true });
}

/** Start the datastore and a node on it, measure, stop both. */
async function benchOne(
  name: DatastoreName,
  options: KubeBenchOptions,
  rec: Recorder,
  info: { versions: Record<string, string>; transports: Record<string, string> },
): Promise<void> {
  const progress = options.onProgress ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'mk8s-bench-kube-'));
  let ds: KubeDatastore | undefined;
  let node: KubeNode | undefined;
  const onExit = () => {
    if (node) stopNodeNow(node.home);
    killLabNodes(join(dir, 'lab'));
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  try {
    progress(`${name}: starting 3 members`);
    ds =
      name === 'ours'
        ? await startOurs(join(dir, 'lab'), options.profileDir)
        : await startEtcd(join(dir, 'etcd'), name);
    info.versions[name] = ds.version;
    info.transports[name] = ds.transport;
    progress(`${name}: starting a Kubernetes node on ${ds.endpoints.join(',')}`);
    node = new KubeNode(`mk8s-bench-kube-${name.replace(/\W/g, '')}`);
    const t0 = performance.now();
    await node.ok([
      'start',
      '--address',
      options.address,
      '--etcd-endpoints',
      ds.endpoints.join(','),
      '--etcd-cafile',
      ds.clientTls.ca,
      '--etcd-certfile',
      ds.clientTls.cert,
      '--etcd-keyfile',
      ds.clientTls.key,
    ]);
    await waitReady(node);
    progress(`${name}: node Ready after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const api = new KubeApi(parseKubeconfig(await node.ok(['config']), 'the admin kubeconfig'));
    try {
      await measure(ds, node, api, rec, options);
    } finally {
      await api.destroy();
    }
  } finally {
    progress(`${name}: stopping`);
    if (node) {
      await node.run(['stop']);
      rmSync(node.home, { recursive: true, force: true });
      node = undefined;
    }
    await ds?.stop();
    process.off('exit', onExit);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(
  ds: KubeDatastore,
  node: KubeNode,
  api: KubeApi,
  rec: Recorder,
  options: KubeBenchOptions,
): Promise<void> {
  const s = options.seconds;
  const apiserverPid = () => {
    const pid = node.servicePid('kube-apiserver');
    if (!pid) throw new Error('kube-apiserver has no pid');
    return pid;
  };
  for (const ns of ['bench', 'bench-update', 'bench-list', 'bench-watch', 'bench-pods', 'bench-recovery'])
    await ensureNamespace(api, ns);
  // Pods are refused until the namespace's default ServiceAccount exists.
  await until('the default ServiceAccount of bench-pods', 60_000, async () =>
    (await api.call('GET', '/api/v1/namespaces/bench-pods/serviceaccounts/default')) ? true : undefined,
  );
  const image = await pauseImage(node);

  // Idle: the node up with nothing asked of it (its controllers and kubelet still write).
  await sleep(s * 3000);
  const idle = await withCpu([...ds.pids(), apiserverPid()], () => sleep(5000));
  const memberCpu = idle.cpuPct.slice(0, -1);
  rec.add('datastore RSS idle MB (max member)', Math.max(...ds.pids().map((p) => memoryOf(p).rssMb)));
  rec.add(
    'datastore CPU idle % (all members)',
    memberCpu.reduce((a, b) => a + b, 0),
  );
  rec.add('kube-apiserver RSS idle MB', memoryOf(apiserverPid()).rssMb);
  rec.add('kube-apiserver CPU idle %', idle.cpuPct.at(-1)!);

  let updates: Stored[] = [];
  await rec.phase(
    `creating ${UPDATE_OBJECTS} ConfigMaps to update, ${options.listObjects} to list`,
    async () => {
      updates = await fillConfigMaps(api, 'bench-update', 'u', UPDATE_OBJECTS);
      await fillConfigMaps(api, 'bench-list', 'l', options.listObjects);
    },
  );

  for (let run = 0; run < options.runs; run++) {
    for (const c of CONCURRENCIES) {
      const created: Stored[] = [];
      await rec.phase(`run ${run + 1}: cm create c${c}`, async () => {
        const create = createConfigMaps(api, 'bench', `c${run}-${c}-`, created);
        const pids = [...ds.pids(), apiserverPid()];
        const { result: cpu, maxRssMb } = await withRss(ds.pids(), () =>
          withCpu(pids, () => runLoad(c, s, create)),
        );
        rec.load(`cm create c${c}`, cpu.result, { p50: c !== 16, p99: c === 64 });
        if (c !== 64) return;
        const dsSeconds = cpu.cpuSeconds.slice(0, -1);
        rec.add(
          'datastore CPU cm create c64 % (all members)',
          cpu.cpuPct.slice(0, -1).reduce((a, b) => a + b, 0),
        );
        rec.add(
          'datastore CPU ms per cm create c64',
          (dsSeconds.reduce((a, b) => a + b, 0) / cpu.result.ops) * 1000,
        );
        rec.add('kube-apiserver CPU cm create c64 %', cpu.cpuPct.at(-1)!);
        rec.add('datastore RSS under load MB (max member)', Math.max(...maxRssMb));
      });
      await rec.phase(`run ${run + 1}: cm update c${c}`, async () => {
        const update = updateConfigMaps(api, 'bench-update', updates);
        const { result: r, maxRssMb } = await withRss(ds.pids(), () => runLoad(c, s, update.op));
        rec.load(`cm update c${c}`, r, { p50: c !== 16, p99: c === 64 });
        if (c === 64) rec.add('datastore RSS under load MB (max member)', Math.max(...maxRssMb));
        if (update.conflicts() > 0)
          rec.errors[`cm update c${c} conflicts`] =
            (rec.errors[`cm update c${c} conflicts`] ?? 0) + update.conflicts();
      });
      await rec.phase(`run ${run + 1}: cm delete c${c}`, async () => {
        const r = await runLoad(c, s, deleteConfigMaps(api, 'bench', created));
        rec.load(`cm delete c${c}`, r, { p50: c !== 16, p99: c === 64 });
      });
    }
    for (const how of ['rv0', 'consistent', 'paged'] as const) {
      const label = { rv0: 'rv=0 (watch cache)', consistent: 'consistent', paged: 'by 500' }[how];
      await rec.phase(`run ${run + 1}: list ${options.listObjects} ${label}`, async () => {
        const r = await listConfigMaps(api, 'bench-list', how);
        // The namespace also holds its kube-root-ca.crt ConfigMap.
        if (r.items < options.listObjects)
          throw new Error(`listed ${r.items}, expected ${options.listObjects}`);
        rec.add(`list ${options.listObjects} ${label} ms`, r.ms);
      });
    }
    await rec.phase(`run ${run + 1}: watch event latency`, async () => {
      const r = await watchLatency(api, 'bench-watch', `w${run}-`, options.watchEvents, Math.max(s, 5));
      rec.add('watch event p50 ms', r.p50Ms);
      rec.add('watch event p99 ms', r.p99Ms);
      if (r.missed > 0)
        rec.errors['watch missed events'] = (rec.errors['watch missed events'] ?? 0) + r.missed;
    });
    await rec.phase(`run ${run + 1}: ${options.pods} pods to Running`, async () => {
      const r = await podsToRunning(api, 'bench-pods', image, options.pods, POD_TIMEOUT_MS);
      rec.add(`${options.pods} pods create->Running p50 ms`, r.p50Ms);
      rec.add(`${options.pods} pods create->Running p99 ms`, r.p99Ms);
      rec.add(`${options.pods} pods all Running ms`, r.allRunningMs);
      if (r.missed > 0)
        rec.errors['pods not Running in time'] = (rec.errors['pods not Running in time'] ?? 0) + r.missed;
    });
  }
  rec.add('datastore RSS peak MB (max member)', Math.max(...ds.pids().map((p) => memoryOf(p).peakMb)));
  rec.add('kube-apiserver RSS peak MB', memoryOf(apiserverPid()).peakMb);

  for (let i = 0; i < options.failovers; i++) {
    await rec.phase(`failover ${i + 1}/${options.failovers}`, async () => {
      const { killedAt, restart } = await ds.killLeader();
      const ms = await firstApiWriteAfter(api, 'bench-recovery', killedAt, 60_000);
      rec.add('write accepted after leader SIGKILL ms', ms);
      await restart();
      // The restarted member catches up and kube-apiserver sees all 3 again.
      await sleep(5000);
    });
  }
}

export async function runKubeBench(options: KubeBenchOptions): Promise<KubeBenchResult> {
  const t0 = performance.now();
  const progress = options.onProgress ?? (() => undefined);
  const recorders = Object.fromEntries(options.datastores.map((d) => [d, new Recorder(d, progress)]));
  const info = { versions: {} as Record<string, string>, transports: {} as Record<string, string> };
  if (options.profileDir) mkdirSync(options.profileDir, { recursive: true });
  for (const name of options.datastores) {
    const rec = recorders[name]!;
    await rec.phase('datastore and node', () => benchOne(name, options, rec, info));
  }
  const peers = options.datastores.filter((d) => d !== 'ours');
  const rows: KubeRow[] = [];
  for (const metric of metrics(options.listObjects, options.pods)) {
    const values = (d: string) => recorders[d]?.samples[metric.workload] ?? [];
    if (options.datastores.every((d) => values(d).length === 0)) continue;
    const medians = Object.fromEntries(options.datastores.map((d) => [d, median(values(d))]));
    const higherIsBetter = metric.workload.endsWith('ops/s');
    const advantage = Object.fromEntries(
      peers.map((p) => [p, higherIsBetter ? medians.ours! / medians[p]! : medians[p]! / medians.ours!]),
    );
    const row: KubeRow = {
      workload: metric.workload,
      medians,
      ranges: Object.fromEntries(options.datastores.map((d) => [d, range(values(d))])),
      advantage,
    };
    if (metric.target) {
      row.target = metric.target;
      const a = advantage['etcd 3.6'];
      if (a !== undefined && Number.isFinite(a)) row.met = a >= 1;
    }
    rows.push(row);
  }
  const { onProgress: _, ...rest } = options;
  return {
    options: rest,
    rows,
    samples: Object.fromEntries(Object.entries(recorders).map(([k, r]) => [k, r.samples])),
    errors: Object.fromEntries(Object.entries(recorders).map(([k, r]) => [k, r.errors])),
    ...info,
    seconds: (performance.now() - t0) / 1000,
  };
}
