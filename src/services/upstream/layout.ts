/**
 * Where the upstream daemons of a node keep their files. Configuration is per revision (under
 * the data folder, beside the args files, as MicroK8s has it); state that must survive a
 * refresh (images, pods' volumes) is under the common folder; sockets are in the run folder.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Paths } from '../../lib/paths.js';

export interface UpstreamLayout {
  readonly containerdConfig: string;
  readonly containerdRoot: string;
  readonly containerdState: string;
  readonly containerdSocket: string;
  /** containerd's per-registry hosts (certs.d/<host:port>/hosts.toml), as MicroK8s has them. */
  readonly containerdCertsDir: string;
  /** runc's state for containerd's k8s.io namespace (what a stop cleans up). */
  readonly runcRoot: string;
  readonly kubeletConfig: string;
  readonly kubeletRoot: string;
  readonly cniConfDir: string;
  /** The node's pod network, written from flanneld's subnet file (flannel-cni.ts). */
  readonly cniConfList: string;
  readonly cniDataDir: string;
  /** flanneld's network configuration (net-conf.json): the pod CIDR and the backend. */
  readonly flannelNetConf: string;
  /** Where flanneld writes this node's subnet, MTU and masquerade setting once it has them. */
  readonly flannelSubnetFile: string;
  /** The kubelet's cgroup root: one per node folder, so nodes on one machine stay apart. */
  readonly cgroupRoot: string;
}

export function upstreamLayout(paths: Paths): UpstreamLayout {
  const containerdState = join(paths.run, 'containerd');
  return {
    containerdConfig: join(paths.args, 'containerd.toml'),
    containerdRoot: join(paths.common, 'var', 'lib', 'containerd'),
    containerdState,
    containerdSocket: join(containerdState, 'containerd.sock'),
    containerdCertsDir: join(paths.args, 'certs.d'),
    runcRoot: join(containerdState, 'runc'),
    kubeletConfig: join(paths.args, 'kubelet.yaml'),
    kubeletRoot: join(paths.common, 'var', 'lib', 'kubelet'),
    cniConfDir: join(paths.args, 'cni-network'),
    cniConfList: join(paths.args, 'cni-network', '10-flannel.conflist'),
    cniDataDir: join(paths.common, 'var', 'lib', 'cni'),
    flannelNetConf: join(paths.args, 'flannel-network-mgr-config'),
    flannelSubnetFile: join(paths.run, 'flannel', 'subnet.env'),
    cgroupRoot: `microk8s-${createHash('sha256').update(paths.common).digest('hex').slice(0, 12)}`,
  };
}

/** The Kubernetes components, one process each, all from the one multi-call binary. */
export const KUBE_COMPONENTS = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubelet',
  'kube-proxy',
] as const;
export type KubeComponent = (typeof KUBE_COMPONENTS)[number];

/** MicroK8s's network defaults; each node's pods get a /24 of podCidr (its Node's podCIDR). */
export const NETWORK = {
  apiServerPort: 16443,
  serviceCidr: '10.152.183.0/24',
  clusterDns: '10.152.183.10',
  podCidr: '10.1.0.0/16',
  nodePodCidrMaskSize: 24,
  clusterDomain: 'cluster.local',
} as const;
