/**
 * The catalog of a node's daemons: their names (what args files, pid files and snap apps are
 * called after) and, for the daemons this project runs itself, the command that starts one.
 * Upstream daemons (containerd, the Kubernetes components, flanneld) are started by the node's
 * supervisor outside a snap (services/supervisor, src/cluster/kubernetes) and by snapd inside one.
 */
import { join } from 'node:path';
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';

/** In start order (what a snap's start follows): each after what it needs. */
export const SERVICE_NAMES = [
  'datastore',
  'cluster-agent',
  'containerd',
  'apiserver-proxy',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'flanneld',
  'kubelet',
  'kube-proxy',
] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface ServiceSpec {
  readonly name: ServiceName;
  /** `microk8s ...` arguments that run it in the foreground; absent for upstream binaries. */
  readonly run?: (argsFile: string) => string[];
}

const SPECS: Record<ServiceName, ServiceSpec> = {
  datastore: { name: 'datastore', run: (f) => ['datastore', 'run', '--args-file', f] },
  // The agent reads its own args file (--bind) from the paths.
  'cluster-agent': { name: 'cluster-agent', run: () => ['agent', 'run'] },
  containerd: { name: 'containerd' },
  'kube-apiserver': { name: 'kube-apiserver' },
  'kube-controller-manager': { name: 'kube-controller-manager' },
  'kube-scheduler': { name: 'kube-scheduler' },
  flanneld: { name: 'flanneld' },
  kubelet: { name: 'kubelet' },
  'kube-proxy': { name: 'kube-proxy' },
  'apiserver-proxy': { name: 'apiserver-proxy', run: (f) => ['apiserver-proxy', 'run', '--args-file', f] },
};

function isServiceName(value: string): value is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(value);
}

/** The service's spec; MK_SERVICE_UNKNOWN for a name outside the catalog. */
export function serviceSpec(name: string): ServiceSpec {
  if (!isServiceName(name)) {
    throw new MicroK8sError(
      'MK_SERVICE_UNKNOWN',
      `no service '${name}'; the services are ${SERVICE_NAMES.join(', ')}`,
      { service: name },
    );
  }
  return SPECS[name];
}

/** $SNAP_DATA/args/<service>: one flag per line, editable by operators. */
export function serviceArgsFile(paths: Paths, name: ServiceName): string {
  return join(paths.args, name);
}

/** <run>/<service>.pid: written by whoever started the daemon outside a snap. */
export function servicePidFile(paths: Paths, name: ServiceName): string {
  return join(paths.run, `${name}.pid`);
}
