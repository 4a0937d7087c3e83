/**
 * A 3-node dqlite cluster of Debian's `dqlite-demo` (package go-dqlite) on loopback, and its HTTP
 * key/value API driven with undici, for the compare bench.
 *
 * What dqlite-demo offers: `--db HOST:PORT` (Raft and SQL traffic between nodes), `--api HOST:PORT`
 * (HTTP: `PUT /<key>` stores the body, `GET /<key>` returns the value), `--dir` (the node keeps its
 * files in <dir>/<db address>) and `--join` (db addresses of existing nodes). Every answer is HTTP
 * 200; a failure is a body starting with "Error". A node forwards every query, reads included, to
 * the leader. The `dqlite` shell of the same package tells the leader (`.leader`).
 *
 * Nodes are child processes of this process, stopped by PID (and killed on exit if forgotten).
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { isProcessAlive, waitProcessExit } from '../src/lib/process.js';

export interface DqliteNode {
  readonly name: string;
  readonly apiUrl: string;
  readonly dbAddress: string;
  readonly args: string[];
  readonly logFile: string;
  pid: number;
}

export interface DqliteCluster {
  readonly dir: string;
  readonly nodes: DqliteNode[];
  /** Index of the node every live node names as leader (bounded wait). */
  leaderIndex(timeoutMs?: number): Promise<number>;
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Start a stopped node again on its data folder; resolves once a write through it succeeds. */
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

export const DQLITE_LIMITS = {
  readyTimeoutMs: 60_000,
  requestTimeoutMs: 5_000,
  shellTimeoutMs: 3_000,
  stopTimeoutMs: 10_000,
  pollMs: 100,
} as const;

const HINT = 'dqlite-demo is needed (Debian package go-dqlite: `apt-get install go-dqlite`)';

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function addressOf(base: string, offset: number): string {
  const parts = base.split('.').map(Number);
  if (parts.length !== 4 || parts[0] !== 127)
    throw new Error(`dqlite nodes need a loopback address, got ${base}`);
  return `${parts[0]}.${parts[1]}.${parts[2]}.${parts[3]! + offset}`;
}

const running = new Set<DqliteNode>();
let exitHook = false;
function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const n of running) {
      try {
        if (isProcessAlive(n.pid)) process.kill(n.pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
  });
}

/** One HTTP request to a node's API; the body as text, or an Error. */
async function call(pool: Pool, method: 'GET' | 'PUT', key: string, body?: Buffer, timeoutMs = 5000) {
  const res = await pool.request({
    path: `/${key}`,
    method,
    ...(body ? { body } : {}),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const text = await res.body.text();
  if (res.statusCode !== 200 || text.startsWith('Error'))
    throw new Error(`dqlite ${method} /${key}: ${text.trim()}`);
  return text;
}

/** HTTP clients for a set of nodes; ops spread over them round robin. */
export class DqliteClient {
  private readonly pools: Pool[];
  constructor(apiUrls: string[], connectionsPerNode: number) {
    this.pools = apiUrls.map((u) => new Pool(u, { connections: connectionsPerNode, pipelining: 1 }));
  }
  put(i: number, key: string, value: Buffer, timeoutMs?: number): Promise<string> {
    return call(this.pools[i % this.pools.length]!, 'PUT', key, value, timeoutMs);
  }
  get(i: number, key: string, timeoutMs?: number): Promise<string> {
    return call(this.pools[i % this.pools.length]!, 'GET', key, undefined, timeoutMs);
  }
  async close(): Promise<void> {
    await Promise.all(this.pools.map((p) => p.destroy().catch(() => undefined)));
  }
}

/** dqlite answers a write that meets another one in progress with "database is locked". */
export function isLocked(error: unknown): boolean {
  return error instanceof Error && /database is locked|busy/i.test(error.message);
}

/**
 * A put that retries "database is locked" (after 0-5 ms, at most `maxMs`), as a client that needs
 * its write done must: the op's latency includes the retries.
 */
export function dqlitePutWorkload(
  client: DqliteClient,
  valueBytes: number,
  maxMs = 5000,
): { op: (i: number) => Promise<unknown>; retries: () => number } {
  const value = Buffer.alloc(valueBytes, 120);
  let retries = 0;
  return {
    retries: () => retries,
    op: async (i) => {
      const deadline = performance.now() + maxMs;
      for (let attempt = 0; ; attempt++) {
        try {
          return await client.put(i + attempt, `bench/put/${i % 10_000}`, value);
        } catch (error) {
          if (!isLocked(error) || performance.now() > deadline) throw error;
          retries++;
          await sleep(Math.random() * 5);
        }
      }
    },
  };
}

export function dqliteGetWorkload(client: DqliteClient): (i: number) => Promise<unknown> {
  return (i) => client.get(i, `bench/put/${i % 1000}`);
}

/**
 * Time from `start` until a write through one of `apiUrls` succeeds. Attempts overlap: a new one
 * every 50 ms, each with its own timeout, since a request may wait inside the node for a leader.
 */
export async function firstDqliteWriteAfter(
  apiUrls: string[],
  start: number,
  timeoutMs: number,
): Promise<number> {
  const client = new DqliteClient(apiUrls, 8);
  try {
    return await new Promise<number>((resolve) => {
      let done = false;
      let inFlight = 0;
      let n = 0;
      const finish = (v: number) => {
        if (done) return;
        done = true;
        clearInterval(timer);
        resolve(v);
      };
      const attempt = () => {
        if (done) return;
        if (performance.now() - start > timeoutMs) return finish(Number.NaN);
        if (inFlight >= 64) return;
        inFlight++;
        const i = n++;
        client
          .put(i, 'bench/failover', Buffer.from(String(Date.now())), 3000)
          .then(
            () => finish(performance.now() - start),
            (error) => {
              if (process.env.BENCH_DEBUG) console.error(String(error));
            },
          )
          .finally(() => inFlight--);
      };
      const timer = setInterval(attempt, 50);
      attempt();
    });
  } finally {
    await client.close();
  }
}

export async function startDqliteCluster(
  options: { size?: number; baseAddress?: string; apiPort?: number; dbPort?: number } = {},
): Promise<DqliteCluster> {
  const binary = onPath('dqlite-demo');
  if (!binary) throw new Error(`no \`dqlite-demo\` on PATH: ${HINT}`);
  const shell = onPath('dqlite');
  const size = options.size ?? 3;
  const base = options.baseAddress ?? '127.0.32.1';
  const dir = mkdtempSync(join(tmpdir(), 'dqlite-cluster-'));
  const first = `${addressOf(base, 0)}:${options.dbPort ?? 9001}`;
  const nodes: DqliteNode[] = Array.from({ length: size }, (_, i) => {
    const host = addressOf(base, i);
    const dbAddress = `${host}:${options.dbPort ?? 9001}`;
    const nodeDir = join(dir, `dqlite${i + 1}`);
    mkdirSync(nodeDir, { recursive: true });
    return {
      name: `dqlite${i + 1}`,
      apiUrl: `http://${host}:${options.apiPort ?? 8001}`,
      dbAddress,
      // The first node bootstraps the cluster; the others join it (ignored once they have data).
      args: ['--api', `${host}:${options.apiPort ?? 8001}`, '--db', dbAddress, '--dir', nodeDir].concat(
        i === 0 ? [] : ['--join', first],
      ),
      logFile: join(nodeDir, 'dqlite-demo.log'),
      pid: 0,
    };
  });
  installExitHook();

  const spawnNode = (node: DqliteNode) => {
    const out = openSync(node.logFile, 'a');
    try {
      const child = spawn(binary, node.args, { stdio: ['ignore', out, out] });
      if (child.pid === undefined) throw new Error(`could not start ${node.name}`);
      child.on('error', () => {});
      child.unref();
      node.pid = child.pid;
      running.add(node);
    } finally {
      closeSync(out);
    }
  };

  const logTail = (node: DqliteNode) => {
    try {
      return readFileSync(node.logFile, 'utf8').trimEnd().split('\n').slice(-10).join('\n');
    } catch {
      return '(no log)';
    }
  };

  /** Bounded wait until a write through `node` succeeds. */
  const waitWritable = async (node: DqliteNode, timeoutMs: number) => {
    const client = new DqliteClient([node.apiUrl], 1);
    const deadline = Date.now() + timeoutMs;
    try {
      while (Date.now() < deadline) {
        if (!isProcessAlive(node.pid)) throw new Error(`${node.name} exited:\n${logTail(node)}`);
        try {
          await client.put(0, 'bench/ready', Buffer.from('1'), 2000);
          return;
        } catch {
          await sleep(DQLITE_LIMITS.pollMs);
        }
      }
      throw new Error(`${node.name} did not accept a write within ${timeoutMs} ms (log ${node.logFile})`);
    } finally {
      await client.close();
    }
  };

  /** What one node says the leader is (db address), or undefined. */
  const leaderSeenBy = (node: DqliteNode): Promise<string | undefined> =>
    new Promise((resolve) => {
      if (!shell || !isProcessAlive(node.pid)) return resolve(undefined);
      execFile(
        shell,
        ['-s', node.dbAddress, 'demo', '.leader'],
        { timeout: DQLITE_LIMITS.shellTimeoutMs },
        (error, stdout) => resolve(error ? undefined : stdout.trim() || undefined),
      );
    });

  const stop = async () => {
    await Promise.all(
      nodes.map(async (n) => {
        if (isProcessAlive(n.pid)) {
          process.kill(n.pid, 'SIGKILL');
          await waitProcessExit(n.pid, DQLITE_LIMITS.stopTimeoutMs);
        }
        running.delete(n);
        n.pid = 0;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };

  const cluster: DqliteCluster = {
    dir,
    nodes,
    async leaderIndex(timeoutMs = DQLITE_LIMITS.readyTimeoutMs) {
      if (!shell) throw new Error(`no \`dqlite\` shell on PATH: ${HINT}`);
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const live = nodes.filter((n) => isProcessAlive(n.pid));
        const seen = await Promise.all(live.map(leaderSeenBy));
        const agreed = new Set(seen);
        if (agreed.size === 1 && seen[0]) {
          const i = nodes.findIndex((n) => n.dbAddress === seen[0] && isProcessAlive(n.pid));
          if (i >= 0) return i;
        }
        await sleep(DQLITE_LIMITS.pollMs);
      }
      throw new Error(`the dqlite nodes did not agree on a leader within ${timeoutMs} ms`);
    },
    async kill(i, signal = 'SIGKILL') {
      const node = nodes[i]!;
      process.kill(node.pid, signal);
      if (!(await waitProcessExit(node.pid, DQLITE_LIMITS.stopTimeoutMs)))
        throw new Error(`${node.name} did not exit`);
      running.delete(node);
      node.pid = 0;
    },
    async restart(i) {
      const node = nodes[i]!;
      if (isProcessAlive(node.pid)) throw new Error(`${node.name} is already running`);
      spawnNode(node);
      await waitWritable(node, DQLITE_LIMITS.readyTimeoutMs);
    },
    stop,
  };

  try {
    spawnNode(nodes[0]!);
    await waitWritable(nodes[0]!, DQLITE_LIMITS.readyTimeoutMs);
    for (const node of nodes.slice(1)) spawnNode(node);
    await Promise.all(nodes.slice(1).map((n) => waitWritable(n, DQLITE_LIMITS.readyTimeoutMs)));
    // A joining node is promoted to voter after it has joined: wait until all of them are voters.
    if (shell) {
      const deadline = Date.now() + DQLITE_LIMITS.readyTimeoutMs;
      for (;;) {
        const voters = await new Promise<number>((resolve) =>
          execFile(
            shell,
            ['-s', nodes[0]!.dbAddress, 'demo', '.cluster'],
            { timeout: DQLITE_LIMITS.shellTimeoutMs },
            (error, stdout) =>
              resolve(error ? 0 : stdout.split('\n').filter((l) => l.endsWith('|voter')).length),
          ),
        );
        if (voters === size) break;
        if (Date.now() > deadline) throw new Error(`only ${voters} of ${size} dqlite nodes became voters`);
        await sleep(200);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return cluster;
}
