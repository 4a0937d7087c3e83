/**
 * Cluster-wide service configuration for addons (the kubelet's --cluster-dns, ...): through
 * this node's cluster agent (POST /v1/configure, propagated to every control-plane member, one
 * restart at a time; kubelet and kube-proxy changes are recorded for the workers, which follow
 * them). A node whose agent does not answer is configured here alone: its args
 * file and a restart (services/restart.ts). Nothing is done when this node's args already say
 * so, so enabling an addon twice restarts nothing.
 */
import { requestConfigure, requestServiceArgs } from '../cluster/agent/configure.js';
import type { ServiceArgsNode } from '../cluster/agent/protocol.js';
import { isMicroK8sError, MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { editArgsFile, readArgsFile } from '../node/args-file.js';
import { type ServiceName, serviceArgsFile } from '../services/catalog.js';
import { restartService } from '../services/restart.js';

export interface ServiceChange {
  readonly service: ServiceName;
  readonly set: Readonly<Record<string, string>>;
  readonly remove: readonly string[];
  /** Roll over every node even when this node's args already say so (another may not). */
  readonly everyNode?: boolean;
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
  if (!change.everyNode && alreadyConfigured(paths, change)) return [`${change.service}: already configured`];
  try {
    const { service, set, remove } = change;
    const answer = await requestConfigure(paths, { service, set, remove, restart: true, propagate: true });
    const failed = answer.results.filter((r) => !r.ok);
    if (failed.length > 0) {
      throw new MicroK8sError(
        'MK_ADDON_FAILED',
        `configuring ${change.service} failed on ${failed.map((r) => `${r.node} (${r.code}: ${r.message})`).join(', ')}`,
      );
    }
    const lines = answer.results.map((r) => `${change.service} on ${r.node}: ${r.message ?? 'configured'}`);
    if (answer.recorded)
      lines.push(
        `${change.service} on the workers and nodes that join later: recorded (a worker applies it within seconds)`,
      );
    return lines;
  } catch (error) {
    if (!isMicroK8sError(error) || error.code !== 'MK_AGENT_UNREACHABLE') throw error;
  }
  // No agent here (a node run without one): this node only.
  await editArgsFile(serviceArgsFile(paths, change.service), { set: change.set, remove: change.remove });
  const outcome = await restartService(paths, change.service);
  return [`${change.service} on this node: ${outcome.kind}`];
}

/**
 * A service's args as every control-plane node's args file has them (through the agents), or
 * this node's alone when no agent answers: what a service-arg status check reads.
 */
export async function clusterServiceArgs(paths: Paths, service: ServiceName): Promise<ServiceArgsNode[]> {
  try {
    return [...(await requestServiceArgs(paths, { service, all: true })).nodes];
  } catch (error) {
    if (!isMicroK8sError(error) || error.code !== 'MK_AGENT_UNREACHABLE') throw error;
  }
  const flags = readArgsFile(serviceArgsFile(paths, service), { missingOk: true });
  return [{ node: 'this node', address: '', flags: Object.fromEntries(flags) }];
}
