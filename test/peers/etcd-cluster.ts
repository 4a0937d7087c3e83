/**
 * A real etcd cluster (the Debian `etcd` binary, 3.4) of N members on loopback, for tests that
 * compare our datastore with etcd (test/conformance/) and for the benchmarks (bench/).
 *
 * Each member gets its own data folder and log file under one temporary folder, plain http on a
 * loopback address of its own (127.0.8.1, .2, ... by default; or one host with distinct ports),
 * etcd's default timing (heartbeat 100 ms, election 1000 ms). `startEtcdCluster` returns once
 * every member answers Status and all agree on one leader, within a bounded time.
 *
 * Members are child processes of this process; they are stopped by PID in `stop()`, and killed on
 * process exit if a caller forgot (or crashed before) `stop()`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { isProcessAlive } from '../../src/lib/process.js';

export interface EtcdMember {
  readonly name: string;
  /** PID of the running process; 0 while stopped. */
  pid: number;
  /** http://HOST:PORT */
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
}

/** What Maintenance.Status says (through etcd's JSON gateway); ids are decimal strings. */
export interface EtcdMemberStatus {
  readonly memberId: string;
  readonly leader: string;
  readonly version: string;
  readonly revision: number;
  readonly raftTerm: number;
  readonly raftIndex: number;
}

export interface EtcdCluster {
  /** The temporary folder holding every member's data folder and log. */
  readonly dir: string;
  /** Client URLs (http://HOST:PORT), one per member, in member order. */
  readonly endpoints: string[];
  readonly members: EtcdMember[];
  /** Index (into `members`) of the member every running member names as leader. */
  leaderIndex(): Promise<number>;
  /** Status of one member, or undefined if it does not answer in time. */
  status(i: number): Promise<EtcdMemberStatus | undefined>;
  /** Send a signal to one member and wait (bounded) until it has exited. */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Start a stopped member again on its data folder; resolves once it knows the leader. */
  restart(i: number): Promise<void>;
  /** Wait until every running member answers and all agree on one leader. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /**
   * Stop every member and delete the folder unless `keepDir`. Graceful (SIGTERM, then SIGKILL
   * after a bound) when asked or when the folder is kept; otherwise SIGKILL at once, as the data
   * is thrown away (a graceful stop of a whole etcd cluster takes ~7 s: the leader waits for a
   * transfer of leadership to followers that are stopping too).
   */
  stop(options?: { graceful?: boolean }): Promise<void>;
}

export interface EtcdClusterOptions {
  /** Members (default 3). */
  size?: number;
  /** First member address; the next members count up in the last octet (default 127.0.8.1). */
  baseAddress?: string;
  /**
   * Put every member on this one host with distinct ports instead (member i: clientPort + 2i,
   * peerPort + 2i). Set `clientPort`/`peerPort` apart enough for the size.
   */
  host?: string;
  clientPort?: number;
  peerPort?: number;
  /** Parent of the cluster folder (default os.tmpdir()). */
  parentDir?: string;
  /** Keep the folder (data and logs) after stop(). */
  keepDir?: boolean;
  /** Prefix of member names (default "etcd": etcd1, etcd2, ...). */
  namePrefix?: string;
  token?: string;
  heartbeatMs?: number;
  electionMs?: number;
  /** Bound on the start (default 30 s). */
  readyTimeoutMs?: number;
  /** Extra etcd flags, for every member. */
  extraArgs?: readonly string[];
  /** The etcd binary (default: $ETCD_BIN, else `etcd` on PATH). */
  binary?: string;
  /**
   * Encrypt and authenticate the peer traffic (https peer URLs, client certificates checked), as
   * a production etcd does and as our datastore always does. One certificate serves every member:
   * it must name each member's address (IP SAN) and allow both server and client use.
   */
  peerTls?: { caFile: string; certFile: string; keyFile: string };
  /**
   * Serve clients over TLS with client certificates checked (https client URLs), as an external
   * etcd for kube-apiserver runs. `certFile` must name each member's address and allow server
   * use; `clientCertFile`/`clientKeyFile` are what this module's own Status calls present.
   */
  clientTls?: {
    caFile: string;
    certFile: string;
    keyFile: string;
    clientCertFile: string;
    clientKeyFile: string;
  };
}

export const ETCD_CLUSTER_LIMITS = {
  maxMembers: 9,
  readyTimeoutMs: 30_000,
  statusTimeoutMs: 1_000,
  stopTimeoutMs: 10_000,
  restartTimeoutMs: 20_000,
  pollMs: 100,
} as const;

const INSTALL_HINT =
  'the real etcd server is needed (Debian package etcd-server: `sudo apt-get install etcd-server`, ' +
  'or set ETCD_BIN to an etcd 3.4+ binary)';

/** The etcd binary to run, or a clear error telling how to install it. */
export function findEtcdBinary(explicit?: string): string {
  const wanted = explicit ?? process.env.ETCD_BIN;
  if (wanted) {
    if (!existsSync(wanted)) throw new Error(`etcd binary ${wanted} does not exist: ${INSTALL_HINT}`);
    return wanted;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'etcd'))) return join(dir, 'etcd');
  }
  throw new Error(`no \`etcd\` on PATH: ${INSTALL_HINT}`);
}

/** `etcd --version` first line, e.g. "etcd Version: 3.4.23". */
export function etcdVersion(binary = findEtcdBinary()): string {
  return execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 }).split('\n')[0]!.trim();
}

export function addressOf(base: string, offset: number): string {
  const parts = base.split('.').map(Number);
  if (parts.length !== 4 || parts[0] !== 127 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`an etcd test cluster needs a loopback address (127.x.y.z), got ${base}`);
  }
  const last = parts[3]! + offset;
  if (last > 254) throw new Error(`too many members for base address ${base}`);
  return `${parts[0]}.${parts[1]}.${parts[2]}.${last}`;
}

/** The last lines of a member's log, for error messages. */
function logTail(member: EtcdMember, lines = 15): string {
  try {
    return readFileSync(member.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The environment of a member: ours without ETCD_* variables, which etcd reads as flags. */
function memberEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCD_')) env[k] = v;
  return env;
}

/** Members of every cluster of this process still running: killed if the process exits. */
const running = new Set<EtcdMember>();
/** Folders of clusters not stopped yet that are not to be kept: deleted if the process exits. */
const folders = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const m of running) {
      if (isProcessAlive(m.pid)) {
        try {
          process.kill(m.pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }
    }
    for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  });
}

export async function startEtcdCluster(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  const binary = findEtcdBinary(options.binary);
  const size = options.size ?? 3;
  if (!(Number.isInteger(size) && size >= 1 && size <= ETCD_CLUSTER_LIMITS.maxMembers)) {
    throw new Error(`an etcd test cluster has 1 to ${ETCD_CLUSTER_LIMITS.maxMembers} members, got ${size}`);
  }
  const clientPort = options.clientPort ?? 2379;
  const peerPort = options.peerPort ?? 2380;
  const prefix = options.namePrefix ?? 'etcd';
  const parent = options.parentDir ?? tmpdir();
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, 'etcd-cluster-'));
  const token = options.token ?? `test-${process.pid}-${Date.now().toString(36)}`;
  const heartbeat = options.heartbeatMs ?? 100;
  const election = options.electionMs ?? 1000;
  const readyTimeoutMs = options.readyTimeoutMs ?? ETCD_CLUSTER_LIMITS.readyTimeoutMs;

  const members: EtcdMember[] = Array.from({ length: size }, (_, i) => {
    const name = `${prefix}${i + 1}`;
    const host = options.host ?? addressOf(options.baseAddress ?? '127.0.8.1', i);
    const cp = options.host ? clientPort + 2 * i : clientPort;
    const pp = options.host ? peerPort + 2 * i : peerPort;
    return {
      name,
      pid: 0,
      clientUrl: `${options.clientTls ? 'https' : 'http'}://${host}:${cp}`,
      peerUrl: `${options.peerTls ? 'https' : 'http'}://${host}:${pp}`,
      dataDir: join(dir, name, 'data'),
      logFile: join(dir, name, 'etcd.log'),
    };
  });
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  installExitHook();
  if (!options.keepDir) folders.add(dir);

  const argsOf = (m: EtcdMember): string[] => [
    `--name=${m.name}`,
    `--data-dir=${m.dataDir}`,
    `--listen-client-urls=${m.clientUrl}`,
    `--advertise-client-urls=${m.clientUrl}`,
    `--listen-peer-urls=${m.peerUrl}`,
    `--initial-advertise-peer-urls=${m.peerUrl}`,
    `--initial-cluster=${initialCluster}`,
    // Ignored by etcd once the data folder holds a member (a restart).
    '--initial-cluster-state=new',
    `--initial-cluster-token=${token}`,
    `--heartbeat-interval=${heartbeat}`,
    `--election-timeout=${election}`,
    '--logger=zap',
    '--log-outputs=stderr',
    ...(options.peerTls
      ? [
          `--peer-trusted-ca-file=${options.peerTls.caFile}`,
          `--peer-cert-file=${options.peerTls.certFile}`,
          `--peer-key-file=${options.peerTls.keyFile}`,
          '--peer-client-cert-auth',
        ]
      : []),
    ...(options.clientTls
      ? [
          `--trusted-ca-file=${options.clientTls.caFile}`,
          `--cert-file=${options.clientTls.certFile}`,
          `--key-file=${options.clientTls.keyFile}`,
          '--client-cert-auth',
        ]
      : []),
    ...(options.extraArgs ?? []),
  ];

  const spawnMember = (m: EtcdMember): void => {
    mkdirSync(join(dir, m.name), { recursive: true });
    const out = openSync(m.logFile, 'a');
    try {
      const child = spawn(binary, argsOf(m), { stdio: ['ignore', out, out], env: memberEnv() });
      if (child.pid === undefined) throw new Error(`could not start ${m.name} (${binary})`);
      child.on('error', () => {}); // exit is what matters; spawn errors show as pid undefined
      child.unref();
      m.pid = child.pid;
      running.add(m);
    } finally {
      closeSync(out);
    }
  };

  // With client TLS, Status presents the client certificate (undici's Agent; fetch cannot).
  const tlsAgent = options.clientTls
    ? new Agent({
        connect: {
          ca: readFileSync(options.clientTls.caFile),
          cert: readFileSync(options.clientTls.clientCertFile),
          key: readFileSync(options.clientTls.clientKeyFile),
        },
      })
    : undefined;
  const status = async (i: number): Promise<EtcdMemberStatus | undefined> => {
    const m = members[i];
    if (!m || !isProcessAlive(m.pid)) return undefined;
    try {
      // etcd's gRPC gateway: the same Status as gRPC, as JSON with int64 as strings.
      const res = await request(`${m.clientUrl}/v3/maintenance/status`, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
        signal: AbortSignal.timeout(ETCD_CLUSTER_LIMITS.statusTimeoutMs),
        ...(tlsAgent ? { dispatcher: tlsAgent } : {}),
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        return undefined;
      }
      const j = (await res.body.json()) as {
        header?: { member_id?: string; revision?: string };
        leader?: string;
        version?: string;
        raftTerm?: string;
        raftIndex?: string;
      };
      return {
        memberId: j.header?.member_id ?? '0',
        leader: j.leader ?? '0',
        version: j.version ?? '',
        revision: Number(j.header?.revision ?? 0),
        raftTerm: Number(j.raftTerm ?? 0),
        raftIndex: Number(j.raftIndex ?? 0),
      };
    } catch {
      return undefined; // starting, stopping or down
    }
  };

  /** One look: the leader's index if every running member answers and names the same one. */
  const agreedLeader = async (): Promise<number | undefined> => {
    const live = members.map((m, i) => (isProcessAlive(m.pid) ? i : -1)).filter((i) => i >= 0);
    if (live.length === 0) return undefined;
    const reports = await Promise.all(live.map((i) => status(i)));
    if (reports.some((r) => r === undefined)) return undefined;
    const leaders = new Set(reports.map((r) => r!.leader));
    if (leaders.size !== 1) return undefined;
    const leader = [...leaders][0]!;
    if (leader === '0') return undefined;
    const index = live.find((_, k) => reports[k]!.memberId === leader);
    return index;
  };

  const exited = (): EtcdMember[] => members.filter((m) => m.pid !== 0 && !isProcessAlive(m.pid));

  const waitHealthy = async (timeoutMs = readyTimeoutMs): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await agreedLeader()) !== undefined) return;
      const dead = exited();
      if (dead.length > 0) {
        throw new Error(
          `etcd member ${dead[0]!.name} exited; see ${dead[0]!.logFile}:\n${logTail(dead[0]!)}`,
        );
      }
      await sleep(ETCD_CLUSTER_LIMITS.pollMs);
    }
    throw new Error(`the etcd cluster did not agree on a leader within ${timeoutMs} ms (logs in ${dir})`);
  };

  const waitExit = async (m: EtcdMember, timeoutMs: number): Promise<boolean> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!isProcessAlive(m.pid)) return true;
      await sleep(25);
    }
    return !isProcessAlive(m.pid);
  };

  const kill = async (i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const m = members[i];
    if (!m) throw new Error(`no etcd member ${i}`);
    if (!isProcessAlive(m.pid)) throw new Error(`${m.name} is not running`);
    process.kill(m.pid, signal);
    if (!(await waitExit(m, ETCD_CLUSTER_LIMITS.stopTimeoutMs))) {
      throw new Error(`${m.name} (pid ${m.pid}) did not exit after ${signal}`);
    }
    running.delete(m);
    m.pid = 0;
  };

  const restart = async (i: number): Promise<void> => {
    const m = members[i];
    if (!m) throw new Error(`no etcd member ${i}`);
    if (isProcessAlive(m.pid)) throw new Error(`${m.name} is already running (pid ${m.pid})`);
    spawnMember(m);
    const deadline = Date.now() + ETCD_CLUSTER_LIMITS.restartTimeoutMs;
    while (Date.now() < deadline) {
      const s = await status(i);
      if (s && s.leader !== '0') return;
      if (!isProcessAlive(m.pid)) throw new Error(`${m.name} exited; see ${m.logFile}:\n${logTail(m)}`);
      await sleep(ETCD_CLUSTER_LIMITS.pollMs);
    }
    throw new Error(`${m.name} did not rejoin within ${ETCD_CLUSTER_LIMITS.restartTimeoutMs} ms`);
  };

  let stopped = false;
  const stop = async (stopOptions: { graceful?: boolean } = {}): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const graceful = stopOptions.graceful ?? options.keepDir ?? false;
    await Promise.all(
      members.map(async (m) => {
        if (isProcessAlive(m.pid)) {
          process.kill(m.pid, graceful ? 'SIGTERM' : 'SIGKILL');
          if (!(await waitExit(m, ETCD_CLUSTER_LIMITS.stopTimeoutMs)) && isProcessAlive(m.pid)) {
            process.kill(m.pid, 'SIGKILL');
            await waitExit(m, ETCD_CLUSTER_LIMITS.stopTimeoutMs);
          }
        }
        running.delete(m);
        m.pid = 0;
      }),
    );
    if (!options.keepDir) rmSync(dir, { recursive: true, force: true });
    folders.delete(dir);
    await tlsAgent?.close();
  };

  try {
    for (const m of members) spawnMember(m);
    await waitHealthy(readyTimeoutMs);
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    dir,
    endpoints: members.map((m) => m.clientUrl),
    members,
    async leaderIndex() {
      const deadline = Date.now() + readyTimeoutMs;
      while (Date.now() < deadline) {
        const index = await agreedLeader();
        if (index !== undefined) return index;
        await sleep(ETCD_CLUSTER_LIMITS.pollMs);
      }
      throw new Error(`the etcd members did not agree on a leader within ${readyTimeoutMs} ms`);
    },
    status,
    kill,
    restart,
    waitHealthy,
    stop,
  };
}
