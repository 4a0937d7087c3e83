/**
 * Nodes driven as a user drives them: the built CLI as child processes, one MICROK8S_HOME per
 * node, each on its own loopback address of the calling test file's range, real TLS everywhere.
 * Shared by the multi-process cluster tests (each passes its own addresses and ports).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as assert from 'uvu/assert';

export const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'run.js');
const CLI_TIMEOUT_MS = 120_000;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliNodesOptions {
  /** Folder name prefix under the temporary folder. */
  readonly name: string;
  /** The first three octets of this file's loopback range, e.g. '127.0.53'. */
  readonly subnet: string;
  readonly agentPort: number;
  readonly peerPort: number;
  readonly clientPort: number;
  /** A command prefix that runs node n's processes, e.g. `ip netns exec NS` (default: none). */
  readonly launcher?: (n: number) => readonly string[];
}

/** Poll `probe` until it gives a value (bounded). */
export async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * POST a JSON body to a node's cluster agent, trusting the cluster CA (the agent's certificate
 * names its node, not the address dialled), optionally with a client certificate.
 */
export function agentPost(
  target: { host: string; port: number; path: string; ca: Buffer },
  body: unknown,
  client: { cert?: Buffer; key?: Buffer } = {},
): Promise<{ status: number; body: { code?: string; certs?: object } }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: target.host,
        port: target.port,
        path: target.path,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        ca: target.ca,
        checkServerIdentity: () => undefined,
        ...client,
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString() || '{}'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

export function expectError(r: Run, code: string, exit: number): void {
  assert.ok(r.stderr.includes(`[${code}]`), `expected ${code}, got: ${r.stderr}${r.stdout}`);
  assert.is(r.code, exit, r.stderr);
}

export function cliNodes(options: CliNodesOptions) {
  const base = mkdtempSync(join(tmpdir(), `mk8s-${options.name}-`));
  const ports = [
    '--agent-port',
    String(options.agentPort),
    '--peer-port',
    String(options.peerPort),
    '--client-port',
    String(options.clientPort),
  ];
  const started: number[] = [];
  const home = (n: number) => join(base, `node${n}`);
  const address = (n: number) => `${options.subnet}.${n}`;
  const argsFile = (n: number) => join(home(n), 'data', 'args', 'datastore');
  const pidFile = (n: number) => join(home(n), 'common', 'run', 'datastore.pid');
  const env = (n: number) => ({
    ...process.env,
    MICROK8S_HOME: home(n),
    SNAP: '',
    FORCE_COLOR: '0',
    MICROK8S_LOG_LEVEL: 'warn',
  });

  /** The program and arguments that run the CLI for node n (through its launcher, if any). */
  const command = (n: number, args: string[]): [string, string[]] => {
    const [first, ...rest] = [...(options.launcher?.(n) ?? []), process.execPath, BIN, ...args];
    return [first!, rest];
  };

  function cli(n: number, args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      const child = spawn(...command(n, args), { env: env(n) });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** A detached daemon of node n, stopped by `stopAll`. */
  function daemon(n: number, args: string[]): ChildProcess {
    const child = spawn(...command(n, args), { env: env(n), stdio: 'ignore', detached: true });
    child.unref();
    assert.ok(child.pid);
    started.push(child.pid!);
    return child;
  }

  async function init(n: number): Promise<void> {
    const r = await cli(n, ['agent', 'init', '--address', address(n), '--hostname', `node${n}`, ...ports]);
    assert.is(r.code, 0, r.stderr);
  }

  async function startAgent(n: number): Promise<void> {
    daemon(n, ['agent', 'run']);
    await until(`the agent of node${n}`, 30_000, async () => {
      const r = await cli(n, ['add-node', '--format', 'token']);
      return r.code === 0 ? true : undefined;
    });
  }

  /** Stop every daemon started here or by `join --start` on the given nodes (by pid), then clean up. */
  function stopAll(nodes: readonly number[]): void {
    for (const n of nodes) if (existsSync(pidFile(n))) started.push(Number(readFileSync(pidFile(n), 'utf8')));
    for (const pid of started) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (process.env.KEEP_LAB) console.log(`  kept ${base}`);
    else rmSync(base, { recursive: true, force: true });
  }

  return { home, address, argsFile, pidFile, cli, daemon, init, startAgent, stopAll };
}
