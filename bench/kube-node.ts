/**
 * `npx tsx bench/kube-node.ts [--idle-seconds N]`: one real Kubernetes node, twice in one run:
 * kube-apiserver on our datastore, then on a one-member etcd 3.6 (built from its module), each
 * with the same 3 busybox pods. For each component: RSS, PSS (shared pages of the multi-call
 * binary counted once) and CPU seconds over an idle window; then the datastore against etcd as
 * ratios (above 1: ours is better). Runs inside a network namespace of its own, as root.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { ensureClusterCa, issueCertificate } from '../src/cluster/pki.js';
import { resolveUpstreamPaths } from '../src/lib/upstream-paths.js';
import { shimsOf } from '../src/services/upstream/cleanup.js';
import { KubeNode, until } from '../test/kubernetes/node-cli.js';
import { inOwnNetns } from '../test/kubernetes/node-netns.js';
import { busyboxImage, deployWeb, waitReady, webManifest } from '../test/kubernetes/scenario.js';

const { values } = parseArgs({ options: { 'idle-seconds': { type: 'string', default: '60' } } });
const idleSeconds = Number(values['idle-seconds']);
const address = await inOwnNetns(new URL(import.meta.url).pathname, '10.200.2.2');
const TICKS_PER_SECOND = 100;

interface Sample {
  rssMiB: number;
  pssMiB: number;
  cpuSeconds: number;
}

function sample(pid: number): Sample {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  return { rssMiB: kb('Rss') / 1024, pssMiB: kb('Pss') / 1024, cpuSeconds: ticks / TICKS_PER_SECOND };
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function measure(node: KubeNode, extra: Record<string, number>): Promise<Map<string, Sample>> {
  const pids = new Map<string, number>(
    node
      .supervisorReport()
      .services.filter((s) => s.pid !== undefined)
      .map((s) => [s.name, s.pid!]),
  );
  for (const [name, pid] of Object.entries(extra)) pids.set(name, pid);
  // The pods' side: each containerd shim and the processes of its containers (its children).
  const socket = join(node.home, 'common', 'run', 'containerd', 'containerd.sock');
  for (const [i, shim] of shimsOf(socket).entries()) {
    pids.set(`shim ${i + 1}`, shim);
    for (const [j, child] of childrenOf(shim).entries()) pids.set(`  container ${i + 1}.${j + 1}`, child);
  }
  const before = new Map([...pids].map(([name, pid]) => [name, sample(pid)]));
  await sleep(idleSeconds * 1000);
  const out = new Map<string, Sample>();
  for (const [name, pid] of pids) {
    const now = sample(pid);
    out.set(name, { ...now, cpuSeconds: now.cpuSeconds - before.get(name)!.cpuSeconds });
  }
  return out;
}

async function runNode(label: string, startArgs: string[], extra: () => Record<string, number>) {
  const node = new KubeNode(`mk8s-bench-${label}`);
  try {
    const started = Date.now();
    await node.ok(['start', '--address', address, ...startArgs]);
    await waitReady(node);
    const readyMs = Date.now() - started;
    const manifest = join(node.home, 'web.json');
    writeFileSync(manifest, webManifest(await busyboxImage(node)));
    await deployWeb(node, manifest);
    await sleep(10_000); // let the controllers settle before the idle window
    return { readyMs, samples: await measure(node, extra()) };
  } finally {
    await node.run(['stop']);
    rmSync(node.home, { recursive: true, force: true });
  }
}

function table(title: string, samples: Map<string, Sample>, readyMs: number): void {
  console.log(`\n${title} (start to Ready ${(readyMs / 1000).toFixed(1)} s; idle window ${idleSeconds} s)`);
  console.log('component                  RSS MiB   PSS MiB   CPU s');
  let rss = 0;
  let pss = 0;
  let cpu = 0;
  for (const [name, s] of samples) {
    rss += s.rssMiB;
    pss += s.pssMiB;
    cpu += s.cpuSeconds;
    console.log(
      `${name.padEnd(26)} ${s.rssMiB.toFixed(0).padStart(7)} ${s.pssMiB.toFixed(0).padStart(9)} ${s.cpuSeconds.toFixed(2).padStart(7)}`,
    );
  }
  console.log(
    `${'total'.padEnd(26)} ${rss.toFixed(0).padStart(7)} ${pss.toFixed(0).padStart(9)} ${cpu.toFixed(2).padStart(7)}`,
  );
}

// Ours first.
const ours = await runNode('ours', [], () => ({}));
table('kube-apiserver on our datastore', ours.samples, ours.readyMs);

// Then a one-member etcd 3.6 with client TLS, as a node that outgrew the embedded store uses.
const dir = join('/tmp', `mk8s-bench-etcd-${process.pid}`);
mkdirSync(dir, { recursive: true });
const ca = await ensureClusterCa(join(dir, 'ca'), { commonName: 'bench-etcd-ca' });
const server = await issueCertificate(ca, join(dir, 'server'), 'server', {
  commonName: 'bench-etcd',
  ips: ['127.0.9.1', '127.0.0.1'],
  usage: 'peer',
});
const client = await issueCertificate(ca, join(dir, 'client'), 'client', {
  commonName: 'kube-apiserver',
  usage: 'client',
});
const etcd: ChildProcess = spawn(
  join(resolveUpstreamPaths().bin, 'etcd'),
  [
    '--name=e1',
    `--data-dir=${join(dir, 'data')}`,
    '--listen-client-urls=https://127.0.9.1:2379',
    '--advertise-client-urls=https://127.0.9.1:2379',
    '--listen-peer-urls=http://127.0.9.1:2380',
    '--initial-advertise-peer-urls=http://127.0.9.1:2380',
    '--initial-cluster=e1=http://127.0.9.1:2380',
    `--cert-file=${server.certPath}`,
    `--key-file=${server.keyPath}`,
    `--trusted-ca-file=${ca.certPath}`,
    '--client-cert-auth',
  ],
  { stdio: ['ignore', openSync(join(dir, 'etcd.log'), 'a'), openSync(join(dir, 'etcd.log'), 'a')] },
);
try {
  await until('etcd listens', 30_000, async () =>
    readFileSync(join(dir, 'etcd.log'), 'utf8').includes('serving client traffic') ? true : undefined,
  );
  const theirs = await runNode(
    'etcd',
    [
      '--etcd-endpoints',
      'https://127.0.9.1:2379',
      '--etcd-cafile',
      ca.certPath,
      '--etcd-certfile',
      client.certPath,
      '--etcd-keyfile',
      client.keyPath,
    ],
    () => ({ 'etcd 3.6 (external)': etcd.pid! }),
  );
  table('kube-apiserver on etcd 3.6', theirs.samples, theirs.readyMs);
  const a = ours.samples.get('datastore')!;
  const b = theirs.samples.get('etcd 3.6 (external)')!;
  console.log('\nour datastore against etcd 3.6, serving the same node (above 1: ours is better)');
  console.log(
    `RSS ${a.rssMiB.toFixed(0)} vs ${b.rssMiB.toFixed(0)} MiB: ${(b.rssMiB / a.rssMiB).toFixed(2)}x`,
  );
  console.log(
    `PSS ${a.pssMiB.toFixed(0)} vs ${b.pssMiB.toFixed(0)} MiB: ${(b.pssMiB / a.pssMiB).toFixed(2)}x`,
  );
  console.log(
    `idle CPU ${a.cpuSeconds.toFixed(2)} vs ${b.cpuSeconds.toFixed(2)} s: ${(b.cpuSeconds / Math.max(a.cpuSeconds, 0.01)).toFixed(2)}x`,
  );
} finally {
  etcd.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
