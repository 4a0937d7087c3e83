/**
 * snapctl for the hooks: the snap's options, interface connections and health. (Starting and
 * stopping the daemons goes through services/restart.ts, which owns that use of snapctl.) Each
 * call is bounded; a snapctl that cannot run or times out is MK_SNAPCTL; exit codes that carry
 * an answer (is-connected) are results.
 */
import { MicroK8sError } from '../lib/errors.js';
import { runFile } from '../lib/run-file.js';

export const SNAPCTL_LIMITS = { callMs: 60_000 } as const;

async function snapctl(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const fail = (why: string): never => {
    throw new MicroK8sError('MK_SNAPCTL', `snapctl ${args.join(' ')} failed: ${why}`);
  };
  const result = await runFile('snapctl', args, { timeoutMs: SNAPCTL_LIMITS.callMs }).catch(
    (error: unknown) => fail((error as Error).message),
  );
  if (result.timedOut) fail(`no answer within ${SNAPCTL_LIMITS.callMs} ms`);
  return { code: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

async function snapctlOk(args: readonly string[]): Promise<string> {
  const result = await snapctl(args);
  if (result.code !== 0) {
    throw new MicroK8sError(
      'MK_SNAPCTL',
      `snapctl ${args.join(' ')} failed: ${result.stderr.trim() || `exit ${result.code}`}`,
    );
  }
  return result.stdout;
}

/** `snapctl is-connected PLUG`: exit 0 connected, 1 not connected. */
export async function isConnected(plug: string): Promise<boolean> {
  const result = await snapctl(['is-connected', plug]);
  if (result.code === 0) return true;
  if (result.code === 1) return false;
  throw new MicroK8sError(
    'MK_SNAPCTL',
    `snapctl is-connected ${plug}: ${result.stderr.trim() || `exit ${result.code}`}`,
  );
}

/** `snapctl start microk8s.APP`: runs an app once (a oneshot daemon installed disabled), after the hook. */
export async function startSnapApp(app: string): Promise<void> {
  await snapctlOk(['start', `microk8s.${app}`]);
}

export type Health = 'okay' | 'waiting' | 'blocked' | 'error';

/** What `snap info`/`snap list` show as the snap's health; okay carries no message. */
export async function setHealth(status: Health, message?: string): Promise<void> {
  await snapctlOk(
    status === 'okay' || message === undefined ? ['set-health', status] : ['set-health', status, message],
  );
}

/** Every `snap set` option, as `snapctl get -d` gives them (an empty object when none). */
export async function snapOptions(): Promise<Record<string, unknown>> {
  const text = (await snapctlOk(['get', '-d'])).trim();
  if (text === '') return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new MicroK8sError(
      'MK_SNAPCTL',
      `snapctl get -d printed something that is not JSON: ${text.slice(0, 200)}`,
    );
  }
}

/**
 * `snapctl refresh ARGS` with snapd's answer as it is (exit code and both outputs): the caller
 * tells a refusal by an older snapd from a real failure (src/lifecycle/refresh-policy.ts).
 */
export function snapctlRefresh(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return snapctl(['refresh', ...args]);
}

export interface SnapServiceState {
  readonly enabled: boolean;
  readonly active: boolean;
}

/**
 * `snapctl services`: each app daemon's startup (enabled/disabled) and state (active/inactive),
 * keyed by `snap.app`. A node stopped by `microk8s stop` has its daemons disabled.
 */
export async function snapServiceStates(): Promise<Map<string, SnapServiceState>> {
  const states = new Map<string, SnapServiceState>();
  for (const line of (await snapctlOk(['services'])).split('\n').slice(1)) {
    const [app, startup, current] = line.trim().split(/\s+/);
    if (!app || !startup || !current) continue;
    states.set(app, { enabled: startup === 'enabled', active: current === 'active' });
  }
  return states;
}
