/**
 * One Kubernetes node driven as a user drives it: the built CLI (start, status, kubectl, ctr,
 * stop) as child processes with the node's own MICROK8S_HOME. Bounded everywhere: every command
 * has a timeout, every wait a deadline (hang guards, not timing verdicts).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'run.js');
/** Hang guard for one CLI call (start waits for every service once). */
const COMMAND_TIMEOUT_MS = 6 * 60_000;

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The built CLI as a child process (under `launcher`, e.g. nsenter), its output collected, bounded. */
export function runCli(
  args: readonly string[],
  options: { timeoutMs?: number; launcher?: readonly string[]; env?: Record<string, string> } = {},
): Promise<Run> {
  return new Promise((resolveRun) => {
    const [command, ...prefix] = [...(options.launcher ?? []), process.execPath];
    const child = spawn(command!, [...prefix, BIN, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? COMMAND_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

export class KubeNode {
  readonly home: string;

  /**
   * `launcher` runs the node's commands elsewhere, e.g. `nsenter --net=...` into its namespace;
   * `home`: an existing node's MICROK8S_HOME (a lab's node), else a new temporary one.
   */
  constructor(
    name: string,
    readonly launcher: readonly string[] = [],
    home?: string,
  ) {
    this.home = home ?? mkdtempSync(join(tmpdir(), `${name}-`));
  }

  run(
    args: readonly string[],
    timeoutMs = COMMAND_TIMEOUT_MS,
    env: Record<string, string> = {},
  ): Promise<Run> {
    return runCli(args, { timeoutMs, launcher: this.launcher, env: { ...env, MICROK8S_HOME: this.home } });
  }

  async ok(args: readonly string[], timeoutMs?: number): Promise<string> {
    const result = await this.run(args, timeoutMs);
    if (result.code !== 0) {
      throw new Error(
        `microk8s ${args.join(' ')} exited ${result.code}:\n${result.stdout}\n${result.stderr}`,
      );
    }
    return result.stdout;
  }

  kubectl(...args: string[]): Promise<string> {
    return this.ok(['kubectl', ...args], 120_000);
  }

  async kubectlJson<T>(...args: string[]): Promise<T> {
    return JSON.parse(await this.kubectl(...args, '-o', 'json')) as T;
  }

  supervisorReport(): {
    pid: number;
    services: { name: string; state: string; pid?: number; restarts: number }[];
  } {
    return JSON.parse(readFileSync(join(this.home, 'common', 'run', 'supervisor.json'), 'utf8'));
  }

  servicePid(name: string): number | undefined {
    return this.supervisorReport().services.find((s) => s.name === name)?.pid;
  }

  get started(): boolean {
    return existsSync(join(this.home, 'common', 'run', 'supervisor.json'));
  }
}

/** Poll `probe` until it gives a value; a hang guard of `timeoutMs`. */
export async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(500);
  }
  throw new Error(
    `${what}: not within ${timeoutMs / 1000} s${last ? ` (last error: ${(last as Error).message})` : ''}`,
  );
}

/**
 * GET over plain HTTP from this process (inside the test's namespace), on a new connection each
 * time (no keep-alive: each request may reach another endpoint of a Service); undefined on failure.
 */
export function httpGet(url: string): Promise<string | undefined> {
  return new Promise((resolveGet) => {
    const req = get(url, { agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolveGet(res.statusCode === 200 ? body : undefined));
      res.on('error', () => resolveGet(undefined));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolveGet(undefined));
  });
}
