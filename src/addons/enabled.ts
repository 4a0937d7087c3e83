/**
 * Whether an addon is enabled: its status object (addons.yaml `status`) is in the cluster, or
 * (a setting such as rbac) every control-plane node's args file of the service gives the arg a
 * value that includes the word (read through the agents, service-config.ts).
 */
import type { Paths } from '../lib/paths.js';
import type { KubeClient } from './kube/client.js';
import type { KubeObject } from './kube/object.js';
import { clusterServiceArgs } from './service-config.js';
import { type AddonSpec, isServiceArgStatus } from './spec.js';

/** `paths`: this node, whose agent asks the members for a service-arg status. */
export async function isEnabled(kube: KubeClient, spec: AddonSpec, paths: Paths): Promise<boolean> {
  const s = spec.status;
  if (isServiceArgStatus(s)) {
    // A member that does not answer is left out: a node being restarted must not flip the status.
    const known = (await clusterServiceArgs(paths, s.service)).filter((n) => n.error === undefined);
    return known.length > 0 && known.every((n) => argIncludes(n.flags[s.arg], s.includes));
  }
  const object = {
    apiVersion: s.apiVersion,
    kind: s.kind,
    metadata: { name: s.name, ...(s.namespace ? { namespace: s.namespace } : {}) },
  };
  return (await kube.get(object as KubeObject)) !== undefined;
}

/** The arg's (last) value, split at commas, names the word. */
function argIncludes(values: readonly string[] | undefined, word: string): boolean {
  const value = values?.[values.length - 1];
  return value?.split(',').includes(word) ?? false;
}
