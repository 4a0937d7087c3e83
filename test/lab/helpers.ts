/**
 * Helpers for multi-process tests: a lab of real datastore processes (real TLS between them, real
 * sockets on loopback addresses of its own), driven by the real npm etcd3 client.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3, type IOptions, isRecoverableError } from 'etcd3';
import { Client } from 'undici';
import { labUp } from '../../src/lab/formation.js';
import { labDown, labStatus } from '../../src/lab/processes.js';
import { type LabNodeStatus, type LabSpec, type LabUpOptions, readLab } from '../../src/lab/spec.js';

export interface TestLab {
  dir: string;
  nodes: LabNodeStatus[];
  client(names?: string[]): Etcd3;
  leader(): Promise<LabNodeStatus | undefined>;
  down(): Promise<void>;
}

const clients: Etcd3[] = [];

export async function startLab(
  nodes: number,
  baseAddress: string,
  extraArgs: string[] = [],
  more: Omit<LabUpOptions, 'nodes' | 'dir' | 'baseAddress' | 'extraArgs'> = {},
): Promise<TestLab> {
  const dir = mkdtempSync(join(tmpdir(), 'mk8s-lab-'));
  // Seeded unless a test asks for join formation: these tests are about the datastore's behaviour
  // (failures, partitions, roles), and the join path has tests of its own (join-formation, cluster/).
  let status: LabNodeStatus[];
  try {
    status = await labUp({ nodes, dir, baseAddress, extraArgs, formation: 'seed', ...more });
  } catch (error) {
    // Whatever it started before failing must not hold this file's addresses for the next run.
    if (existsSync(join(dir, 'lab.json'))) await labDown(dir).catch(() => undefined);
    throw error;
  }
  const tls = readLab(dir).clientTls;
  const lab: TestLab = {
    dir,
    nodes: status,
    client(names) {
      const hosts = status.filter((n) => !names || names.includes(n.name)).map((n) => n.clientEndpoint);
      const c = new Etcd3({ hosts, dialTimeout: 3000, ...(tls ? { credentials: credentialsOf(tls) } : {}) });
      clients.push(c);
      return c;
    },
    async leader() {
      const all = await labStatus(dir);
      return all.find((n) => n.state === 'leader');
    },
    async down() {
      for (const c of clients.splice(0)) c.close();
      await labDown(dir);
      // KEEP_LAB=1 keeps the folder (logs, data) of a failing test for a look.
      if (process.env.KEEP_LAB) console.log(`  lab kept in ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
  return lab;
}

/** Whether lab node `name` follows the current leader and has applied nearly all it has. */
export async function caughtUp(dir: string, name: string): Promise<boolean> {
  const all = await labStatus(dir);
  const leader = all.find((n) => n.state === 'leader');
  const node = all.find((n) => n.name === name);
  return leader !== undefined && node?.leader === leader.id && node.applied >= leader.applied - 50;
}

/** Retry `fn` until it succeeds or the bounded time runs out. */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await fn();
    } catch (error) {
      last = error;
      await sleep(100);
    }
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms: ${String(last)}`);
}

/** The hash of a node's key space, through its admin socket. */
export async function nodeHash(dir: string, name: string): Promise<{ hash: string; revision: number }> {
  const node = readLab(dir).nodes.find((n) => n.name === name)!;
  const client = new Client('http://admin', { socketPath: join(node.dataDir, 'admin.sock') });
  try {
    const res = await client.request({ path: '/hash', method: 'GET' });
    return (await res.body.json()) as { hash: string; revision: number };
  } finally {
    await client.close();
  }
}

export interface WriterResult {
  /** Keys whose put was acknowledged: none of them may be lost. */
  acked: string[];
  failures: number;
  /** The longest time without an acknowledged write. */
  maxGapMs: number;
  /** When the longest gap ended (epoch ms). */
  maxGapEnd: number;
  /** Every gap over 100 ms: [end (epoch ms), length]. */
  gaps: [number, number][];
  writes: number;
  /** Every failed put: [when (epoch ms), the error's message]. */
  failed: [number, string][];
  /** Runs of failed puts with no acknowledgement between them: first and last failure (epoch ms). */
  bursts: { start: number; end: number; failures: number }[];
}

/**
 * A steady writer: one put at a time (each bounded by a deadline), counting acknowledgements,
 * failures and the longest time without a success. stop() ends it and returns what it saw.
 */
export function startWriter(client: Etcd3, prefix: string, options: { pauseMs?: number } = {}) {
  let running = true;
  const result: WriterResult = {
    acked: [],
    failures: 0,
    maxGapMs: 0,
    maxGapEnd: 0,
    gaps: [],
    writes: 0,
    failed: [],
    bursts: [],
  };
  let inBurst = false;
  let lastAck = Date.now();
  const done = (async () => {
    for (let i = 0; running && i < 1_000_000; i++) {
      const key = `${prefix}/${String(i).padStart(7, '0')}`;
      result.writes++;
      try {
        await client.put(key).value(String(i));
        const now = Date.now();
        // The first write also sets up the connection: gaps count from the first acknowledgement.
        if (result.acked.length > 0 && now - lastAck > 100) result.gaps.push([now, now - lastAck]);
        if (result.acked.length > 0 && now - lastAck > result.maxGapMs) {
          result.maxGapMs = now - lastAck;
          result.maxGapEnd = now;
        }
        lastAck = now;
        inBurst = false;
        result.acked.push(key);
      } catch (error) {
        result.failures++;
        const now = Date.now();
        result.failed.push([now, (error as Error).message]);
        const burst = result.bursts.at(-1);
        if (inBurst && burst) {
          burst.end = now;
          burst.failures++;
        } else result.bursts.push({ start: now, end: now, failures: 1 });
        inBurst = true;
        await sleep(20);
      }
      if (options.pauseMs) await sleep(options.pauseMs);
    }
  })();
  return {
    result,
    /** The gap so far, counting the time since the last acknowledgement. */
    currentGapMs: () => Date.now() - lastAck,
    async stop(): Promise<WriterResult> {
      running = false;
      await done;
      return result;
    },
  };
}

/** etcd3 client credentials from a lab's client certificate (labs whose nodes serve TLS only). */
export function credentialsOf(tls: NonNullable<LabSpec['clientTls']>) {
  return {
    rootCertificate: readFileSync(tls.ca),
    certChain: readFileSync(tls.cert),
    privateKey: readFileSync(tls.key),
  };
}

/** An etcd3 client whose unary calls give up after `ms` (a partition must not hang the test). */
export function boundedClient(endpoints: string[], ms = 2000, tls?: LabSpec['clientTls']): Etcd3 {
  const c = new Etcd3({
    hosts: endpoints,
    ...(tls ? { credentials: credentialsOf(tls) } : {}),
    dialTimeout: 2000,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + ms }),
  });
  clients.push(c);
  return c;
}

type FaultPolicy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/** etcd3's policy interface, of which the client only calls execute(). */
function policy(execute: <T>(fn: () => PromiseLike<T> | T) => Promise<T>): FaultPolicy {
  const noEvent = (() => ({ dispose() {} })) as unknown as FaultPolicy['onSuccess'];
  return { execute, onSuccess: noEvent, onFailure: noEvent } as unknown as FaultPolicy;
}

/** The failover client's retries: what a leadership transfer or a stopping endpoint may take. */
export const FAILOVER_LIMITS = { attempts: 10, firstDelayMs: 25, maxDelayMs: 500 } as const;

/**
 * An etcd3 client that rides out a leadership transfer and a stopping endpoint as clientv3
 * does: a call that fails with a retryable error (UNAVAILABLE: "leader changed", "no leader",
 * a refused connection) is tried again on the next endpoint after a growing pause (bounded:
 * FAILOVER_LIMITS, each try bounded by `ms`). etcd3's default policy instead tries 3 times at
 * once and opens a per-endpoint breaker for 5 s after 3 such errors: during one election every
 * endpoint's breaker opens, and the client fails every call for 5 s while the cluster serves.
 */
export function failoverClient(endpoints: string[], ms = 2000): Etcd3 {
  const retry = policy(async (fn) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (attempt >= FAILOVER_LIMITS.attempts || !isRecoverableError(error as Error)) throw error;
        await sleep(Math.min(FAILOVER_LIMITS.firstDelayMs * 2 ** (attempt - 1), FAILOVER_LIMITS.maxDelayMs));
      }
    }
  });
  const c = new Etcd3({
    hosts: endpoints,
    dialTimeout: 2000,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + ms }),
    faultHandling: { global: retry, host: () => policy(async (fn) => await fn()) },
  });
  clients.push(c);
  return c;
}

/** Poll a condition every `everyMs` until it holds; returns the time it took (bounded). */
export async function timeUntil(
  condition: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  everyMs = 50,
): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await condition().catch(() => false)) return Date.now() - start;
    await sleep(everyMs);
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`);
}

/** POST to a node's admin socket (e.g. /transfer?to=2). */
export async function adminPost(dir: string, name: string, path: string): Promise<unknown> {
  const node = readLab(dir).nodes.find((n) => n.name === name)!;
  const client = new Client('http://admin', { socketPath: join(node.dataDir, 'admin.sock') });
  try {
    const res = await client.request({ path, method: 'POST' });
    return await res.body.json();
  } finally {
    await client.close();
  }
}

/** Make `name` the leader (transfer from the current one) and wait until it leads. */
export async function makeLeader(lab: TestLab, name: string): Promise<void> {
  const id = readLab(lab.dir).nodes.find((n) => n.name === name)!.id;
  await eventually(
    async () => {
      const leader = await lab.leader();
      if (leader?.name === name) return;
      if (leader) await adminPost(lab.dir, leader.name, `/transfer?to=${id}`);
      throw new Error(`leader is ${leader?.name ?? 'none'}`);
    },
    15_000,
    `${name} leading`,
  );
}

/** The leader's view of the members, as `id:role` strings, once a leader answers. */
export async function leaderMembers(lab: TestLab) {
  const leader = await lab.leader();
  if (!leader) throw new Error('no leader');
  return { leader, members: leader.members };
}

/** The longest gap without an acknowledged write that ended after `since`. */
export function longestGapSince(result: WriterResult, since: number): number {
  return Math.max(0, ...result.gaps.filter(([end]) => end >= since).map(([, ms]) => ms));
}
