/**
 * Restarting one service of this node. In a snap the snap's service manager owns the daemons,
 * so it is asked (`snapctl restart <snap>.daemon-<service>`). Outside a snap only the daemons
 * this project started itself can be restarted: their pid file names the process, which is
 * stopped by pid (SIGTERM, a bounded wait, then SIGKILL) and started again the same way. A
 * service that is not running here, or not installed here, is a result, not an error: a
 * cluster-wide change goes on with the other services and nodes.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from '../lib/assert.js';
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { isProcessAlive, waitProcessExit } from '../lib/process.js';
import { runFile } from '../lib/run-file.js';
import { withFileLock } from '../node/lock.js';
import { isRecordedProcessAlive } from '../node/process-identity.js';
import { type ServiceName, serviceArgsFile, servicePidFile, serviceSpec } from './catalog.js';
import { spawnDaemon } from './spawn.js';
import { requestControl } from './supervisor/control.js';
import { runningSupervisor } from './supervisor/state.js';

export const RESTART_LIMITS = {
  /** SIGTERM to exit: a datastore hands its leadership over first. */
  stopWaitMs: 30_000,
  /** SIGKILL to exit. */
  killWaitMs: 5_000,
  /** snapctl restart, which waits for the service to stop and start. */
  snapctlMs: 120_000,
  /**
   * Waiting for another restart of the same service on this node (a roll and an address change
   * at once): its stop, start and readiness wait together.
   */
  lockWaitMs: 180_000,
} as const;

export type RestartOutcome =
  | {
      readonly kind: 'restarted';
      readonly pid: number;
      readonly previousPid: number;
      readonly killed: boolean;
    }
  | { readonly kind: 'restarted-by-snap'; readonly app: string }
  | { readonly kind: 'not-running' | 'not-installed' | 'skipped'; readonly reason: string };

export interface RestartOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Resolves once the new process serves; throws (a MicroK8sError) when it does not. The pid is
   * unknown in a snap (the service manager started it).
   */
  readonly waitReady?: (pid: number | undefined) => Promise<void>;
}

/**
 * Hold this node's lock of one service while stopping and starting it: a configure roll, a
 * forwarded configure and an address change may each restart the same daemon, and two stops of
 * one pid would start two daemons on one data folder, one of which exits and leaves its pid in
 * the pid file. Not reentrant: hold it around stopService/startService, never around restartService.
 */
export async function withServiceLock<T>(
  paths: Paths,
  name: ServiceName,
  body: () => Promise<T>,
): Promise<T> {
  mkdirSync(paths.run, { recursive: true });
  return withFileLock(join(paths.run, `${name}.restart.lock`), body, RESTART_LIMITS.lockWaitMs);
}

/**
 * Whether `pid` runs `microk8s <args...>`: the same words in order, args file included, so a
 * reused pid that runs another node's daemon (another MICROK8S_HOME, a lab node) is never
 * signalled. Linux /proc; elsewhere the pid file is trusted.
 */
async function stopPid(name: string, pid: number, signal: StopSignal): Promise<boolean> {
  process.kill(pid, signal);
  if (await waitProcessExit(pid, RESTART_LIMITS.stopWaitMs)) return false;
  process.kill(pid, 'SIGKILL');
  if (await waitProcessExit(pid, RESTART_LIMITS.killWaitMs)) return true;
  throw new MicroK8sError('MK_SERVICE_RESTART', `${name} (pid ${pid}) did not exit after SIGKILL`, { pid });
}

function snapApp(name: ServiceName, env: RestartOptions['env']): string {
  return `${env?.SNAP_INSTANCE_NAME || env?.SNAP_NAME || 'microk8s'}.daemon-${name}`;
}

async function snapctl(action: 'restart' | 'stop' | 'start', app: string, ...flags: string[]): Promise<void> {
  const fail = (why: string) =>
    new MicroK8sError('MK_SERVICE_RESTART', `snapctl ${action} ${app} failed: ${why}`, { app });
  const result = await runFile('snapctl', [action, ...flags, app], {
    timeoutMs: RESTART_LIMITS.snapctlMs,
  }).catch((error: unknown) => {
    throw fail((error as Error).message);
  });
  if (result.exitCode !== 0) {
    throw fail(
      result.timedOut
        ? `no answer within ${RESTART_LIMITS.snapctlMs} ms`
        : result.stderr.trim() || `exit ${result.exitCode ?? result.signal}`,
    );
  }
}

/**
 * In a snap, the whole node at once (`microk8s start|stop`): snapd's services, started (and
 * enabled, so they come back after a reboot) or stopped (and disabled), in the given order.
 */
export async function snapctlServices(
  action: 'start' | 'stop',
  names: readonly ServiceName[],
  env: RestartOptions['env'] = process.env,
): Promise<string[]> {
  const apps: string[] = [];
  for (const name of names) {
    const app = snapApp(name, env);
    await snapctl(action, app, action === 'start' ? '--enable' : '--disable');
    apps.push(app);
  }
  return apps;
}

export type StopOutcome =
  | { readonly kind: 'stopped'; readonly pid: number; readonly killed: boolean }
  | { readonly kind: 'stopped-by-snap'; readonly app: string }
  /** Its pid file names a process that is gone: it was started here and died (a crash, a bad flag). */
  | { readonly kind: 'exited'; readonly pid: number; readonly reason: string }
  | { readonly kind: 'not-running' | 'not-installed' | 'skipped'; readonly reason: string };

/**
 * Stop one service (for a change that must happen while it is down, such as a new listen
 * address). Anything but `stopped*` means nothing was stopped, and says why.
 */
/**
 * SIGTERM lets a datastore hand its role over first; SIGINT stops it at once (after `leave`
 * has handed everything over already).
 */
export type StopSignal = 'SIGTERM' | 'SIGINT';

export async function stopService(
  paths: Paths,
  name: ServiceName,
  env: RestartOptions['env'] = process.env,
  signal: StopSignal = 'SIGTERM',
): Promise<StopOutcome> {
  if (env?.SNAP) {
    const app = snapApp(name, env);
    await snapctl('stop', app);
    return { kind: 'stopped-by-snap', app };
  }
  // The node's supervisor owns every daemon it runs: it stops this one and keeps it down.
  if (runningSupervisor(paths.run)) {
    const result = await requestControl(paths.run, name, 'stop');
    return result.pid === undefined
      ? { kind: 'not-running', reason: `${name} was not running under the supervisor` }
      : { kind: 'stopped', pid: result.pid, killed: result.killed ?? false };
  }
  const spec = serviceSpec(name);
  if (spec.run === undefined) {
    return {
      kind: 'not-running',
      reason: `${name} is not running here: the node is not started (microk8s start)`,
    };
  }
  const pidFile = servicePidFile(paths, name);
  const pid = existsSync(pidFile) ? Number.parseInt(readFileSync(pidFile, 'utf8'), 10) : Number.NaN;
  if (Number.isInteger(pid) && pid > 0 && !isProcessAlive(pid)) {
    return { kind: 'exited', pid, reason: `${name} (pid ${pid}) is not running any more` };
  }
  if (!isProcessAlive(pid)) {
    return { kind: 'not-running', reason: `${name} is not running here (no live process in ${pidFile})` };
  }
  if (pid === process.pid) {
    return { kind: 'skipped', reason: `${name} does not restart itself outside a snap; restart it by hand` };
  }
  if (!isRecordedProcessAlive(pid, { command: spec.run(serviceArgsFile(paths, name)) })) {
    return { kind: 'not-running', reason: `pid ${pid} of ${pidFile} is not ${name}; it was left alone` };
  }
  return { kind: 'stopped', pid, killed: await stopPid(name, pid, signal) };
}

/** Start a service that `stopService` stopped, the same way; the new pid outside a snap. */
export async function startService(
  paths: Paths,
  name: ServiceName,
  env: RestartOptions['env'] = process.env,
): Promise<number | undefined> {
  if (env?.SNAP) {
    await snapctl('start', snapApp(name, env));
    return undefined;
  }
  if (runningSupervisor(paths.run)) return (await requestControl(paths.run, name, 'start')).pid;
  const run = serviceSpec(name).run;
  if (run === undefined) {
    throw new MicroK8sError(
      'MK_SERVICE_RESTART',
      `${name} runs under the node's supervisor: start the node (microk8s start)`,
      {
        service: name,
      },
    );
  }
  return spawnDaemon(paths, name, run(serviceArgsFile(paths, name)));
}

export async function restartService(
  paths: Paths,
  name: ServiceName,
  options: RestartOptions = {},
): Promise<RestartOutcome> {
  const env = options.env ?? process.env;
  return withServiceLock(paths, name, async (): Promise<RestartOutcome> => {
    if (env.SNAP) {
      // snapctl returns once the process runs, not once it serves: a roll must wait for that too.
      const app = snapApp(name, env);
      await snapctl('restart', app);
      await options.waitReady?.(undefined);
      return { kind: 'restarted-by-snap', app };
    }
    const stopped = await stopService(paths, name, env);
    // A daemon started here that died is started again, as a service manager's restart would.
    if (stopped.kind !== 'stopped' && stopped.kind !== 'exited') {
      assert(stopped.kind !== 'stopped-by-snap', 'no snap here');
      return stopped;
    }
    const started = (await startService(paths, name, env))!;
    await options.waitReady?.(started);
    const killed = stopped.kind === 'stopped' && stopped.killed;
    return { kind: 'restarted', pid: started, previousPid: stopped.pid, killed };
  });
}
