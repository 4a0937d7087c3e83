/**
 * Workloads of the kube bench, through the Kubernetes API (bench/kube-api.ts), identical for every
 * datastore under kube-apiserver: ConfigMap create, update and delete (the ops go through
 * runLoad of bench/workloads.ts), lists of many objects, watch event latency, pods from create to
 * Running, and the time until a write is accepted again after the datastore lost its leader.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { until } from '../test/kubernetes/node-cli.js';
import { type KubeApi, KubeApiError, type KubeObject, type WatchEvent } from './kube-api.js';
import { Exhausted, latencySummary, runLoad } from './workloads.js';

export const VALUE_BYTES = 256;

export interface Stored {
  name: string;
  resourceVersion: string;
}

const cmPath = (ns: string, name = '') => `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ''}`;

function configMap(name: string, value: string, resourceVersion?: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, ...(resourceVersion ? { resourceVersion } : {}) },
    data: { value },
  };
}

export async function ensureNamespace(api: KubeApi, name: string): Promise<void> {
  try {
    await api.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  } catch (error) {
    if (!(error instanceof KubeApiError && error.status === 409)) throw error;
  }
}

/** Create a new ConfigMap per op; what it made goes to `created` (for update and delete). */
export function createConfigMaps(api: KubeApi, ns: string, prefix: string, created: Stored[]) {
  const value = 'c'.repeat(VALUE_BYTES);
  return async (i: number) => {
    const res = await api.call('POST', cmPath(ns), configMap(`${prefix}${i}`, value));
    created.push({ name: res.metadata.name, resourceVersion: res.metadata.resourceVersion ?? '' });
  };
}

/**
 * Update one of `objects` per op (in turn), with the resourceVersion of the last answer, as a
 * client that keeps what it read does; a conflict (another loop updated it meanwhile) re-reads it.
 */
export function updateConfigMaps(api: KubeApi, ns: string, objects: Stored[]) {
  const value = 'u'.repeat(VALUE_BYTES);
  let conflicts = 0;
  return {
    conflicts: () => conflicts,
    op: async (i: number) => {
      const item = objects[i % objects.length]!;
      try {
        const res = await api.call(
          'PUT',
          cmPath(ns, item.name),
          configMap(item.name, value, item.resourceVersion),
        );
        item.resourceVersion = res.metadata.resourceVersion ?? '';
      } catch (error) {
        if (!(error instanceof KubeApiError && error.status === 409)) throw error;
        conflicts++;
        const now = await api.call('GET', cmPath(ns, item.name));
        item.resourceVersion = now.metadata.resourceVersion ?? '';
      }
    },
  };
}

/** Delete one of `created` per op, until none is left. */
export function deleteConfigMaps(api: KubeApi, ns: string, created: Stored[]) {
  return async () => {
    const item = created.pop();
    if (!item) throw new Exhausted('every created ConfigMap is deleted');
    await api.call('DELETE', cmPath(ns, item.name));
  };
}

/** `count` ConfigMaps `${prefix}N` in `ns`, 64 at a time, bounded; what was made. */
export async function fillConfigMaps(
  api: KubeApi,
  ns: string,
  prefix: string,
  count: number,
): Promise<Stored[]> {
  const created: Stored[] = [];
  const create = createConfigMaps(api, ns, prefix, created);
  const r = await runLoad(64, 600, async (i) => {
    if (i >= count) throw new Exhausted('all created');
    await create(i);
  });
  if (created.length !== count)
    throw new Error(`created ${created.length} of ${count} ConfigMaps (${r.errors} errors)`);
  return created;
}

interface ListAnswer {
  metadata: { resourceVersion: string; continue?: string };
  items: unknown[];
}

/**
 * Time to list every ConfigMap of `ns`: `rv0` from the watch cache (resourceVersion=0), `consistent`
 * (no resourceVersion: as fresh as a quorum read), `paged` (limit 500, continue tokens).
 */
export async function listConfigMaps(
  api: KubeApi,
  ns: string,
  how: 'rv0' | 'consistent' | 'paged',
): Promise<{ ms: number; items: number }> {
  const t0 = performance.now();
  if (how !== 'paged') {
    const res = await api.call<ListAnswer>(
      'GET',
      `${cmPath(ns)}${how === 'rv0' ? '?resourceVersion=0' : ''}`,
    );
    return { ms: performance.now() - t0, items: res.items.length };
  }
  let items = 0;
  let next: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const res = await api.call<ListAnswer>(
      'GET',
      `${cmPath(ns)}?limit=500${next ? `&continue=${encodeURIComponent(next)}` : ''}`,
    );
    items += res.items.length;
    next = res.metadata.continue;
    if (!next) break;
  }
  return { ms: performance.now() - t0, items };
}

/** The resourceVersion of a list of `path`, for a watch that starts right after it. */
async function listVersion(api: KubeApi, path: string): Promise<string> {
  return (await api.call<ListAnswer>('GET', `${path}?limit=1`)).metadata.resourceVersion;
}

/**
 * Watch event latency through kube-apiserver: ConfigMaps created one at a time while a watch on
 * their namespace is open; from the start of the create to the arrival of its ADDED event. At
 * most `count` creates or `seconds`, whichever comes first.
 */
export async function watchLatency(api: KubeApi, ns: string, prefix: string, count: number, seconds: number) {
  const sent = new Map<string, number>();
  const seen: number[] = [];
  const rv = await listVersion(api, cmPath(ns));
  const watch = await api.watch(`${cmPath(ns)}?watch=1&resourceVersion=${rv}`, (event) => {
    const t0 = event.type === 'ADDED' ? sent.get(event.object.metadata.name) : undefined;
    if (t0 !== undefined) seen.push(performance.now() - t0);
  });
  try {
    const value = 'w'.repeat(VALUE_BYTES);
    const deadline = performance.now() + seconds * 1000;
    let n = 0;
    while (n < count && performance.now() < deadline) {
      const name = `${prefix}${n++}`;
      sent.set(name, performance.now());
      await api.call('POST', cmPath(ns), configMap(name, value));
    }
    const drain = performance.now() + 5000;
    while (seen.length < n && performance.now() < drain) await sleep(5);
    return latencySummary(seen, n);
  } finally {
    watch.close();
  }
}

function pod(name: string, image: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      containers: [{ name: 'c', image, imagePullPolicy: 'Never' }],
      terminationGracePeriodSeconds: 0,
      enableServiceLinks: false,
    },
  };
}

/**
 * `count` pods created (16 at a time) and each timed from its create to the watch event that
 * shows it Running; then all deleted, and the wait until they are gone (bounded). Returns the
 * per-pod latencies and the time from the first create until the last pod ran.
 */
export async function podsToRunning(
  api: KubeApi,
  ns: string,
  image: string,
  count: number,
  timeoutMs: number,
) {
  const path = `/api/v1/namespaces/${ns}/pods`;
  const sent = new Map<string, number>();
  const running = new Map<string, number>();
  let lastRunning = 0;
  const rv = await listVersion(api, path);
  const watch = await api.watch(`${path}?watch=1&resourceVersion=${rv}`, (event: WatchEvent) => {
    const name = event.object.metadata.name;
    const t0 = sent.get(name);
    if (t0 !== undefined && event.object.status?.phase === 'Running' && !running.has(name)) {
      running.set(name, performance.now() - t0);
      lastRunning = performance.now();
    }
  });
  const start = performance.now();
  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < count) {
          const name = `p${next++}`;
          sent.set(name, performance.now());
          await api.call('POST', path, pod(name, image));
        }
      }),
    );
    const deadline = start + timeoutMs;
    while (running.size < count && performance.now() < deadline) await sleep(20);
    const allMs = running.size === count ? lastRunning - start : Number.NaN;
    const result = { ...latencySummary([...running.values()], count), allRunningMs: allMs };
    await api.call('DELETE', `${path}?gracePeriodSeconds=0`);
    // Gone: the list is empty (the kubelet has stopped their sandboxes), before the next phase.
    await until(`${count} pods deleted`, timeoutMs, async () =>
      (await api.call<ListAnswer>('GET', `${path}?limit=1`)).items.length === 0 ? true : undefined,
    );
    return result;
  } finally {
    watch.close();
  }
}

/**
 * Time from `start` until kube-apiserver accepts a write (a ConfigMap create): a probe every
 * 50 ms, each bounded to 2 s, up to 40 in flight; the first success ends it. NaN after `timeoutMs`.
 */
export async function firstApiWriteAfter(
  api: KubeApi,
  ns: string,
  start: number,
  timeoutMs: number,
): Promise<number> {
  let done = Number.NaN;
  let inFlight = 0;
  let n = 0;
  while (Number.isNaN(done) && performance.now() - start < timeoutMs) {
    if (inFlight < 40) {
      inFlight++;
      const name = `r${Date.now().toString(36)}-${n++}`;
      api
        .call('POST', cmPath(ns), configMap(name, 'r'), 2000)
        .then(() => {
          if (Number.isNaN(done)) done = performance.now() - start;
        })
        .catch((error) => {
          if (process.env.BENCH_DEBUG) console.error(String(error));
        })
        .finally(() => inFlight--);
    }
    await sleep(50);
  }
  // Let the probes still in flight end (bounded by their own timeout) before the next phase.
  const drain = performance.now() + 3000;
  while (inFlight > 0 && performance.now() < drain) await sleep(20);
  return done;
}
