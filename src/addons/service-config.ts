/**
 * Cluster-wide service configuration for addons (the kubelet's --cluster-dns, ...): through
 * this node's cluster agent (POST /v1/configure, propagated to every control-plane member, one
 * restart at a time). A node whose agent does not answer is configured here alone: its args
 * file and a restart (services/restart.ts). Nothing is done when this node's args already say
 * so, so enabling an addon twice restarts nothing.
 */
import { requestConfigure } from '../cluster/agent/configure.js';
import { isMicroK8sError, MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { editArgsFile, readArgsFile } from '../node/args-file.js';
import { type ServiceName, serviceArgsFile } from '../services/catalog.js';
import { restartService } from '../services/restart.js';

export interface ServiceChange {
  readonly service: ServiceName;
  readonly set: Readonly<Record<string, string>>;
  readonly remove: readonly string[];
}

/** True when this node's args file already holds the change. */
export function alreadyConfigured(paths: Paths, change: ServiceChange): boolean {
  const flags = readArgsFile(serviceArgsFile(paths, change.service), { missingOk: true });
  const setOk = Object.entries(change.set).every(
    ([k, v]) => flags.get(k)?.[0] === v && flags.get(k)?.length === 1,
  );
  return setOk && change.remove.every((k) => !flags.has(k));
}

/** Applies the change on every node that can be reached; returns one line per node. */
export async function configureService(paths: Paths, change: ServiceChange): Promise<string[]> {
  if (alreadyConfigured(paths, change)) return [`${change.service}: already configured`];
  try {
    const answer = await requestConfigure(paths, { ...change, restart: true, propagate: true });
    const failed = answer.results.filter((r) => !r.ok);
    if (failed.length > 0) {
      throw new MicroK8sError(
        'MK_ADDON_FAILED',
        `configuring ${change.service} failed on ${failed.map((r) => `${r.node} (${r.code}: ${r.message})`).join(', ')}`,
      );
    }
    return answer.results.map((r) => `${change.service} on ${r.node}: ${r.message ?? 'configured'}`);
  } catch (error) {
    if (!isMicroK8sError(error) || error.code !== 'MK_AGENT_UNREACHABLE') throw error;
  }
  // No agent here (a node run without one): this node only.
  await editArgsFile(serviceArgsFile(paths, change.service), { set: change.set, remove: change.remove });
  const outcome = await restartService(paths, change.service);
  return [`${change.service} on this node: ${outcome.kind}`];
}
