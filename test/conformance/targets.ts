/**
 * The two clusters the conformance cases run against, with one shape:
 *  - `ours`: a 3-node lab of our datastore (real processes, `labUp`) on 127.0.11.1-3;
 *  - `etcd`: a real 3-member etcd (test/peers/etcd-cluster.ts) on 127.0.8.1-3.
 * CONFORMANCE_TARGET=ours|etcd|both (default both) picks which ones start.
 * CONFORMANCE_OURS_BASE / CONFORMANCE_ETCD_BASE move them to other loopback addresses.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3, type IOptions } from 'etcd3';
import { labUp } from '../../src/lab/formation.js';
import { labDown, labSignal, labStart, labStatus } from '../../src/lab/processes.js';
import { readLab } from '../../src/lab/spec.js';
import { isProcessAlive } from '../../src/lib/process.js';
import { type RunFileResult, runFile } from '../../src/lib/run-file.js';
import { startEtcdCluster } from '../peers/etcd-cluster.js';
import { type RawClient, rawClient } from './grpc.js';

export type TargetName = 'ours' | 'etcd';

/** What one etcdctl run printed, its exit code (null when a signal ended it) and whether it timed out. */
export type CtlResult = Pick<RunFileResult, 'exitCode' | 'stdout' | 'stderr' | 'timedOut'>;

export interface Target {
  readonly name: TargetName;
  /** Client URLs, http://HOST:PORT, in member order. */
  readonly endpoints: string[];
  /** The same, as etcdctl's --endpoints value (HOST:PORT,...). */
  readonly ctlEndpoints: string;
  /** An etcd3 client on these endpoints (default: all); closed by stop(). */
  client(endpoints?: string[], options?: Partial<IOptions>): Etcd3;
  /** A raw grpc-js client on one endpoint (default: the first); closed by stop(). */
  raw(endpoint?: string): RawClient;
  /** Run etcdctl (v3 API) against these endpoints (default: all), bounded. */
  ctl(
    args: string[],
    options?: { endpoints?: string[]; input?: string; timeoutMs?: number },
  ): Promise<CtlResult>;
  /** Index of the current leader (bounded wait for one). */
  leaderIndex(): Promise<number>;
  /** Index of a running member that is not the leader. */
  followerIndex(): Promise<number>;
  kill(i: number, signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

export const TARGET_LIMITS = {
  leaderWaitMs: 20_000,
  ctlTimeoutMs: 15_000,
  pollMs: 100,
} as const;

export function targetNamesFromEnv(): TargetName[] {
  const v = (process.env.CONFORMANCE_TARGET ?? 'both').trim().toLowerCase();
  if (v === 'both' || v === '') return ['ours', 'etcd'];
  if (v === 'ours' || v === 'etcd') return [v];
  throw new Error(`CONFORMANCE_TARGET must be ours, etcd or both, got '${v}'`);
}

async function runCtl(
  all: string[],
  args: string[],
  options: { endpoints?: string[]; input?: string; timeoutMs?: number } = {},
): Promise<CtlResult> {
  const endpoints = (options.endpoints ?? all).map((e) => e.replace(/^https?:\/\//, '')).join(',');
  return runFile(
    'etcdctl',
    [`--endpoints=${endpoints}`, '--dial-timeout=3s', '--command-timeout=10s', ...args],
    {
      // Only what etcdctl needs: no ETCDCTL_* of the caller's environment.
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ETCDCTL_API: '3' },
      input: options.input ?? '',
      timeoutMs: options.timeoutMs ?? TARGET_LIMITS.ctlTimeoutMs,
    },
  );
}

/** Client bookkeeping shared by both targets. */
function clientPool(all: string[]) {
  const clients: Etcd3[] = [];
  const raws: RawClient[] = [];
  return {
    client(endpoints: string[] = all, options: Partial<IOptions> = {}): Etcd3 {
      const c = new Etcd3({ hosts: endpoints, dialTimeout: 3000, ...options });
      clients.push(c);
      return c;
    },
    raw(endpoint: string = all[0]!): RawClient {
      const r = rawClient(endpoint);
      raws.push(r);
      return r;
    },
    close(): void {
      for (const c of clients.splice(0)) c.close();
      for (const r of raws.splice(0)) r.close();
    },
  };
}

async function startOurs(): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'mk8s-conformance-'));
  // Kill the lab's processes if this process exits without stop() (a crash, a failed before()).
  const onExit = () => {
    try {
      for (const n of readLab(dir).nodes) if (isProcessAlive(n.pid)) process.kill(n.pid, 'SIGKILL');
    } catch {
      // No lab file yet, or already gone.
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', onExit);
  let status: Awaited<ReturnType<typeof labUp>>;
  try {
    status = await labUp({
      nodes: 3,
      dir,
      baseAddress: process.env.CONFORMANCE_OURS_BASE ?? '127.0.11.1',
      // Plain TCP clients on loopback, as the etcd it is compared with serves.
      formation: 'seed',
    });
  } catch (error) {
    try {
      await labDown(dir, { purge: true });
    } catch {
      // Nothing started.
    }
    process.off('exit', onExit);
    throw error;
  }
  const endpoints = status.map((n) => n.clientEndpoint);
  const names = status.map((n) => n.name);
  const pool = clientPool(endpoints);
  const leaderIndex = async (): Promise<number> => {
    const deadline = Date.now() + TARGET_LIMITS.leaderWaitMs;
    while (Date.now() < deadline) {
      const all = await labStatus(dir);
      const leaders = all.filter((n) => n.state === 'leader');
      if (leaders.length === 1) return names.indexOf(leaders[0]!.name);
      await sleep(TARGET_LIMITS.pollMs);
    }
    throw new Error(`no single leader in our lab within ${TARGET_LIMITS.leaderWaitMs} ms`);
  };
  return {
    name: 'ours',
    endpoints,
    ctlEndpoints: endpoints.map((e) => e.replace(/^http:\/\//, '')).join(','),
    client: pool.client,
    raw: pool.raw,
    ctl: (args, options) => runCtl(endpoints, args, options),
    leaderIndex,
    async followerIndex() {
      const leader = await leaderIndex();
      const all = await labStatus(dir);
      const i = all.findIndex((n, j) => j !== leader && n.running);
      if (i < 0) throw new Error('no running follower in our lab');
      return i;
    },
    async kill(i, signal = 'SIGKILL') {
      await labSignal(dir, names[i]!, signal);
    },
    async restart(i) {
      await labStart(dir, names[i]!);
    },
    async stop() {
      pool.close();
      try {
        await labDown(dir, { purge: true });
      } finally {
        process.off('exit', onExit);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

async function startEtcd(): Promise<Target> {
  const cluster = await startEtcdCluster({
    size: 3,
    baseAddress: process.env.CONFORMANCE_ETCD_BASE ?? '127.0.8.1',
    parentDir: tmpdir(),
  });
  const endpoints = cluster.endpoints;
  const pool = clientPool(endpoints);
  return {
    name: 'etcd',
    endpoints,
    ctlEndpoints: endpoints.map((e) => e.replace(/^http:\/\//, '')).join(','),
    client: pool.client,
    raw: pool.raw,
    ctl: (args, options) => runCtl(endpoints, args, options),
    leaderIndex: () => cluster.leaderIndex(),
    async followerIndex() {
      const leader = await cluster.leaderIndex();
      const i = cluster.members.findIndex((m, j) => j !== leader && m.pid !== 0);
      if (i < 0) throw new Error('no running etcd follower');
      return i;
    },
    kill: (i, signal = 'SIGKILL') => cluster.kill(i, signal),
    restart: (i) => cluster.restart(i),
    async stop() {
      pool.close();
      await cluster.stop();
    },
  };
}

export function startTarget(name: TargetName): Promise<Target> {
  return name === 'ours' ? startOurs() : startEtcd();
}

let signalsHandled = false;

/**
 * Ctrl-C or a TERM while targets run: exit through process.exit, so the 'exit' hooks kill the
 * clusters' processes by PID (our lab's nodes run in their own process groups and would stay).
 */
function exitOnSignals(): void {
  if (signalsHandled) return;
  signalsHandled = true;
  process.once('SIGINT', () => process.exit(130));
  process.once('SIGTERM', () => process.exit(143));
}

/** Start the named targets in parallel; if one fails, stop the others and rethrow. */
export async function startTargets(names: readonly TargetName[]): Promise<Target[]> {
  exitOnSignals();
  const settled = await Promise.allSettled(names.map((n) => startTarget(n)));
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) {
    for (const s of settled) if (s.status === 'fulfilled') await s.value.stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  return settled.map((s) => (s as PromiseFulfilledResult<Target>).value);
}
