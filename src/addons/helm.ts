/**
 * `microk8s helm ...` (and `helm3`): the helm binary with this node's admin kubeconfig, once the
 * helm addon is enabled in the cluster. Everything after `helm` is helm's own (bin/run.js runs
 * this before oclif); stdio and the exit code are helm's.
 */
import { runPassthrough } from '../cluster/kubernetes/passthrough.js';
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { KubeClient } from './kube/client.js';
import { adminCredentials } from './kube/kubeconfig.js';
import { isEnabled } from './operations.js';
import { coreRepository, findAddon } from './repository.js';

export async function runHelm(paths: Paths, args: readonly string[]): Promise<number> {
  const spec = findAddon([coreRepository()], 'helm');
  const kube = new KubeClient(adminCredentials(paths));
  try {
    if (!(await isEnabled(kube, spec)))
      throw new MicroK8sError('MK_ADDON_NOT_ENABLED', 'the helm addon is not enabled', { addon: 'helm' });
  } finally {
    await kube.close();
  }
  return runPassthrough(paths, 'helm', args);
}
