/**
 * The remove hook: the node leaves its cluster cleanly if it is a member of one (leadership and
 * its voter seat handed over first), then everything stops: the daemons, the pods' containers
 * and shims, their mounts, and kube-proxy's iptables rules (`kube-proxy --cleanup`). A remove
 * must not be stopped by a step that fails (the node may be half set up or already broken), so
 * each failure is reported and the next step runs.
 */
import { join } from 'node:path';
import { agentContext } from '../cluster/agent/context.js';
import { runLeave } from '../cluster/agent/leave.js';
import { stopNode } from '../cluster/kubernetes/lifecycle.js';
import { isMicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { runFile } from '../lib/run-file.js';
import { resolveUpstreamPaths } from '../lib/upstream-paths.js';
import { cleanupAfterStop } from '../services/upstream/cleanup.js';
import { upstreamLayout } from '../services/upstream/layout.js';
import { runsOwnDatastore } from './datastore-socket.js';

export const REMOVE_LIMITS = { kubeProxyCleanupMs: 60_000 } as const;

export interface RemoveStep {
  readonly step: string;
  readonly ok: boolean;
  readonly detail: string;
}

async function step(name: string, body: () => Promise<string>): Promise<RemoveStep> {
  try {
    return { step: name, ok: true, detail: await body() };
  } catch (error) {
    return { step: name, ok: false, detail: (error as Error).message };
  }
}

export async function removeHook(paths: Paths): Promise<RemoveStep[]> {
  const steps: RemoveStep[] = [];
  if (runsOwnDatastore(paths)) {
    steps.push(
      await step('leave', async () => {
        try {
          return `left the cluster ${(await runLeave(agentContext(paths))).clusterId}`;
        } catch (error) {
          // A single node has no cluster to leave: nothing to hand over.
          if (isMicroK8sError(error) && error.code === 'MK_INVALID_ARGUMENT') return error.message;
          throw error;
        }
      }),
    );
  }
  steps.push(
    await step('stop', async () => ((await stopNode(paths)).wasRunning ? 'stopped' : 'was not running')),
  );
  const upstream = resolveUpstreamPaths();
  steps.push(
    await step('containers', async () => {
      const notes = await cleanupAfterStop(upstream, upstreamLayout(paths));
      return notes.length > 0 ? notes.join('; ') : 'no containers, shims or mounts were left';
    }),
  );
  steps.push(
    await step('iptables', async () => {
      const result = await runFile(join(upstream.bin, 'kube-proxy'), ['--cleanup'], {
        timeoutMs: REMOVE_LIMITS.kubeProxyCleanupMs,
      });
      if (result.exitCode !== 0)
        throw new Error(result.stderr.trim().split('\n').at(-1) ?? `exit ${result.exitCode}`);
      return "kube-proxy's rules are gone";
    }),
  );
  return steps;
}
