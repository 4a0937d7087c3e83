/** Whether an addon is enabled: its status object (addons.yaml `status`) is in the cluster. */
import type { KubeClient } from './kube/client.js';
import type { KubeObject } from './kube/object.js';
import type { AddonSpec } from './spec.js';

/** Is the addon's status object present? */
export async function isEnabled(kube: KubeClient, spec: AddonSpec): Promise<boolean> {
  const s = spec.status;
  const object = {
    apiVersion: s.apiVersion,
    kind: s.kind,
    metadata: { name: s.name, ...(s.namespace ? { namespace: s.namespace } : {}) },
  };
  return (await kube.get(object as KubeObject)) !== undefined;
}
