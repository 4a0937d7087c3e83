/**
 * Waiting for workloads to roll out (Deployments, DaemonSets, StatefulSets), with a progress
 * line every few seconds and, on timeout, what their pods are waiting for (ImagePullBackOff,
 * CrashLoopBackOff, ...), so a failed enable says why.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { MicroK8sError } from '../../lib/errors.js';
import type { KubeClient } from './client.js';
import { describeObject, type KubeObject } from './object.js';

export const ROLLOUT_LIMITS = {
  pollMs: 1_000,
  progressEveryMs: 5_000,
  defaultTimeoutMs: 5 * 60_000,
} as const;

const WORKLOADS = new Set(['Deployment', 'DaemonSet', 'StatefulSet']);

interface WorkloadState {
  readonly done: boolean;
  readonly text: string;
}

type Status = Record<string, number | undefined>;

/** Is this object, as the server reports it, fully rolled out? */
export function rolloutState(object: KubeObject): WorkloadState {
  const status = (object.status ?? {}) as Status;
  const generation = (object.metadata as { generation?: number }).generation ?? 0;
  const observed = (status.observedGeneration ?? 0) >= generation;
  if (object.kind === 'DaemonSet') {
    const want = status.desiredNumberScheduled ?? 0;
    const ready = status.numberReady ?? 0;
    const updated = status.updatedNumberScheduled ?? 0;
    return {
      done: observed && want > 0 && ready === want && updated === want,
      text: `${ready}/${want} ready`,
    };
  }
  const want = ((object.spec as { replicas?: number } | undefined)?.replicas ?? 1) as number;
  const ready = object.kind === 'StatefulSet' ? (status.readyReplicas ?? 0) : (status.availableReplicas ?? 0);
  const updated = status.updatedReplicas ?? 0;
  return { done: observed && ready >= want && updated >= want, text: `${ready}/${want} available` };
}

export function isWorkload(object: KubeObject): boolean {
  return WORKLOADS.has(object.kind);
}

/** Why the workload's pods are not ready: their containers' waiting reasons, at most a few. */
async function podReasons(client: KubeClient, object: KubeObject): Promise<string> {
  const selector = (object.spec as { selector?: { matchLabels?: Record<string, string> } }).selector
    ?.matchLabels;
  if (!selector) return '';
  const labels = Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const pods = await client.list('v1', 'Pod', object.metadata.namespace, labels).catch(() => []);
  const reasons = new Set<string>();
  for (const pod of pods) {
    const status = pod.status as {
      phase?: string;
      containerStatuses?: { state?: { waiting?: { reason?: string; message?: string } } }[];
    };
    for (const c of status.containerStatuses ?? []) {
      const w = c.state?.waiting;
      if (w?.reason) reasons.add(`${w.reason}${w.message ? `: ${w.message.slice(0, 200)}` : ''}`);
    }
    if (reasons.size === 0 && status.phase) reasons.add(`pod ${pod.metadata.name} is ${status.phase}`);
  }
  return [...reasons].slice(0, 3).join('; ');
}

/** Resolves once every workload among `objects` is rolled out; MK_TIMEOUT otherwise. */
export async function waitRollout(
  client: KubeClient,
  objects: readonly KubeObject[],
  progress: (line: string) => void,
  timeoutMs: number = ROLLOUT_LIMITS.defaultTimeoutMs,
): Promise<void> {
  const started = Date.now();
  let lastProgress = started;
  for (const workload of objects.filter(isWorkload)) {
    const name = describeObject(workload);
    for (;;) {
      const current = await client.get(workload);
      const state = current ? rolloutState(current) : { done: false, text: 'not found' };
      if (state.done) {
        progress(`${name}: ${state.text}`);
        break;
      }
      const elapsed = Date.now() - started;
      if (elapsed > timeoutMs) {
        const why = current ? await podReasons(client, current) : '';
        throw new MicroK8sError(
          'MK_TIMEOUT',
          `${name} did not roll out within ${Math.round(timeoutMs / 1000)} s (${state.text}${why ? `; ${why}` : ''})`,
          { object: name },
        );
      }
      if (Date.now() - lastProgress >= ROLLOUT_LIMITS.progressEveryMs) {
        lastProgress = Date.now();
        progress(`${name}: ${state.text} (${Math.round(elapsed / 1000)} s)`);
      }
      await sleep(ROLLOUT_LIMITS.pollMs);
    }
  }
}

/** Resolves once none of `objects` exists any more (a delete finished); MK_TIMEOUT otherwise. */
export async function waitGone(
  client: KubeClient,
  objects: readonly KubeObject[],
  timeoutMs: number = ROLLOUT_LIMITS.defaultTimeoutMs,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const object of objects) {
    while (await client.get(object)) {
      if (Date.now() > deadline)
        throw new MicroK8sError(
          'MK_TIMEOUT',
          `${describeObject(object)} was not deleted within ${Math.round(timeoutMs / 1000)} s`,
        );
      await sleep(ROLLOUT_LIMITS.pollMs);
    }
  }
}

/** Resolves once no pod of the workload is left (a deleted Deployment's pods terminate later). */
export async function waitPodsGone(
  client: KubeClient,
  workload: KubeObject,
  timeoutMs: number = ROLLOUT_LIMITS.defaultTimeoutMs,
): Promise<void> {
  const labels = (workload.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)
    ?.selector?.matchLabels;
  if (!labels) return;
  const selector = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const deadline = Date.now() + timeoutMs;
  while ((await client.list('v1', 'Pod', workload.metadata.namespace, selector)).length > 0) {
    if (Date.now() > deadline)
      throw new MicroK8sError(
        'MK_TIMEOUT',
        `the pods of ${describeObject(workload)} did not terminate within ${Math.round(timeoutMs / 1000)} s`,
      );
    await sleep(ROLLOUT_LIMITS.pollMs);
  }
}
