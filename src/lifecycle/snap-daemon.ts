/**
 * One daemon of the node in the foreground, as snapd runs it (the app daemon-NAME runs
 * `microk8s snap-daemon NAME`): the same spec the supervisor uses outside a snap (command from
 * the args file at this start, environment, host preparation), started as a child with the
 * journal as its output. SIGTERM, SIGINT and SIGHUP are passed on, and its exit is ours, so
 * snapd's stop-mode and restart-condition apply to the daemon itself. A spec's onReady work
 * (flanneld's CNI conflist) is done here too, once its probe passes, as the supervisor does.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { nodeDaemons } from '../cluster/kubernetes/node-daemons.js';
import { MicroK8sError } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import type { Paths } from '../lib/paths.js';
import { probeOnce } from '../services/supervisor/probes.js';
import { type DaemonSpec, SUPERVISOR_LIMITS } from '../services/supervisor/spec.js';

const log = createLogger('snap-daemon');
const FORWARDED = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/** Once the probe passes, the spec's onReady work; tried again while it fails, until the child exits. */
async function readyWork(spec: DaemonSpec, child: ChildProcess): Promise<void> {
  const { onReady, name } = spec;
  if (!onReady) return;
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  let lastFailure = '';
  while (!exited) {
    if (await probeOnce(spec.probe)) {
      try {
        log.info(await onReady(), { service: name });
        return;
      } catch (error) {
        const failure = (error as Error).message;
        if (failure !== lastFailure) log.warn('on ready', { service: name, problem: failure });
        lastFailure = failure;
      }
    }
    await sleep(SUPERVISOR_LIMITS.probeEveryMs);
  }
}

/** Runs the daemon until it exits; its exit code (128 + the signal number after a signal). */
export async function runSnapDaemon(paths: Paths, name: string): Promise<number> {
  const specs = nodeDaemons(paths);
  const spec = specs.find((s) => s.name === name);
  if (!spec) {
    throw new MicroK8sError(
      'MK_SERVICE_UNKNOWN',
      `this node does not run ${name}; it runs ${specs.map((s) => s.name).join(', ')}`,
      { service: name },
    );
  }
  for (const problem of (await spec.prestart?.()) ?? [])
    log.warn('before the start', { service: name, problem });
  const [command, ...args] = spec.command();
  const child = spawn(command!, args, { stdio: 'inherit', env: { ...process.env, ...spec.env } });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  for (const signal of FORWARDED) process.on(signal, forward(signal));
  void readyWork(spec, child);
  return new Promise((resolve, reject) => {
    child.on('error', (error) =>
      reject(
        new MicroK8sError('MK_SERVICE_RESTART', `${name} could not start: ${error.message}`, {
          service: name,
        }),
      ),
    );
    child.on('exit', (code, signal) =>
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)),
    );
  });
}
