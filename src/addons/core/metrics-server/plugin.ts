/**
 * The metrics-server addon: its objects, the rollout, then the wait until the API server says
 * its APIService is Available (the aggregation layer reaches metrics-server), so that
 * `kubectl top` is served when enable returns. Node metrics follow after the first scrapes.
 * Erasable TypeScript only: Node strips the types when it loads this file.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddonContext } from '../../context.js';

/** The aggregation layer checks the APIService every few seconds; a start takes under a minute. */
const AVAILABLE_TIMEOUT_MS = 3 * 60_000;
const POLL_MS = 2_000;

interface Condition {
  readonly type: string;
  readonly status: string;
  readonly message?: string;
}

async function waitAvailable(ctx: AddonContext): Promise<void> {
  const apiService = ctx.manifests.find((o) => o.kind === 'APIService');
  if (!apiService) throw new Error('the manifests have no APIService');
  const deadline = Date.now() + AVAILABLE_TIMEOUT_MS;
  let last = 'not reported yet';
  while (Date.now() < deadline) {
    const current = await ctx.kube.get(apiService);
    const conditions = (current?.status as { conditions?: Condition[] } | undefined)?.conditions ?? [];
    const available = conditions.find((c) => c.type === 'Available');
    if (available?.status === 'True') {
      ctx.progress('metrics-server: the APIService v1beta1.metrics.k8s.io is Available');
      return;
    }
    last = available?.message ?? last;
    await sleep(POLL_MS);
  }
  throw new Error(
    `the APIService v1beta1.metrics.k8s.io was not Available within ${AVAILABLE_TIMEOUT_MS / 1000} s (${last})`,
  );
}

export async function enable(ctx: AddonContext): Promise<void> {
  await ctx.apply(ctx.manifests);
  await ctx.waitRollout();
  await ctx.step('wait for the metrics API', () => waitAvailable(ctx));
}
