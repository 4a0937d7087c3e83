/**
 * `microk8s status` of a node whose kube-apiserver uses an external etcd cluster: there is no
 * datastore of ours to ask, so running means the supervisor runs, and ready means Kubernetes
 * serves (/readyz, this node Ready). --wait-ready polls for that, bounded.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { MicroK8sError } from '../../lib/errors.js';
import type { Paths } from '../../lib/paths.js';
import { readNodeStatus, type ServiceState } from '../../services/status.js';
import { runningSupervisor } from '../../services/supervisor/state.js';
import {
  formatKubernetesHealth,
  type KubernetesHealth,
  kubernetesHealth,
  kubernetesServes,
} from './health.js';
import { apiServerEtcdServers } from './node-daemons.js';

export interface ExternalDatastoreStatus {
  readonly running: true;
  readonly ready: boolean;
  readonly datastore: { readonly external: true; readonly endpoints: string[] };
  readonly kubernetes: KubernetesHealth;
  readonly addons: { readonly available: boolean; readonly enabled: string[]; readonly disabled: string[] };
  readonly services: ServiceState[];
}

export async function externalDatastoreStatus(
  paths: Paths,
  waitReady: boolean,
  deadline: number,
  pollMs: number,
): Promise<ExternalDatastoreStatus> {
  for (;;) {
    if (!runningSupervisor(paths.run)) {
      throw new MicroK8sError(
        'MK_NOT_RUNNING',
        'microk8s is not running (its supervisor is not running)',
        {},
      );
    }
    const kubernetes = await kubernetesHealth(paths);
    const ready = kubernetesServes(kubernetes);
    if (ready || !waitReady || Date.now() + pollMs >= deadline) {
      if (waitReady && !ready) {
        throw new MicroK8sError(
          'MK_NOT_READY',
          'microk8s is running but Kubernetes did not become ready in time',
          {},
        );
      }
      return {
        running: true,
        ready,
        datastore: { external: true, endpoints: apiServerEtcdServers(paths) },
        kubernetes,
        addons: { available: false, enabled: [], disabled: [] },
        services: readNodeStatus(paths).services,
      };
    }
    await sleep(pollMs);
  }
}

export function formatExternalPretty(
  status: ExternalDatastoreStatus,
  addonLines?: readonly string[],
): string {
  return [
    'microk8s is running',
    'high-availability: no (the datastore is an external etcd)',
    formatKubernetesHealth(status.kubernetes),
    `  datastore: external etcd at ${status.datastore.endpoints.join(', ')}`,
    ...(addonLines ?? ['addons:', '  unknown (not read)']),
    'services:',
    ...status.services.map((s) => `  ${s.name}: ${s.running ? `running (pid ${s.pid})` : 'stopped'}`),
  ].join('\n');
}
