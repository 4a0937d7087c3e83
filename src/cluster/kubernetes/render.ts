/**
 * The default configuration of a node's upstream daemons, from its certificate set: one args
 * file per service under $SNAP_DATA/args (one flag per line, editable by operators, as MicroK8s
 * has them), plus the files a flag points at (containerd.toml, kubelet.yaml, flannel's network).
 * MicroK8s's defaults: API server on 16443, services in 10.152.183.0/24, pods in 10.1.0.0/16 (a
 * /24 of it per node, allocated by the controller manager and routed by flanneld). The CNI
 * conflist is not rendered here: it follows flanneld's subnet file (services/upstream/flannel-cni.ts).
 */
import { join } from 'node:path';
import { assert } from '../../lib/assert.js';
import type { UpstreamPaths } from '../../lib/upstream-paths.js';
import { NETWORK, type UpstreamLayout } from '../../services/upstream/layout.js';
import type { CertsLayout } from '../pki/layout.js';

export interface RenderContext {
  readonly certs: CertsLayout;
  readonly layout: UpstreamLayout;
  readonly upstream: UpstreamPaths;
  readonly hostname: string;
  /** The node's address: what the API server advertises and the kubelet reports. */
  readonly address: string;
  /** kube-apiserver's datastore: this node's etcd socket, or an external etcd (none on a worker). */
  readonly etcd?: EtcdTarget;
  /** The sandbox image, by its full local name. */
  readonly sandboxImage: string;
  /** False where the host withholds CAP_SYS_RESOURCE (see canLowerOomScore). */
  readonly canLowerOomScore: boolean;
}

export type EtcdTarget =
  | { readonly kind: 'embedded'; readonly socket: string }
  | {
      readonly kind: 'external';
      readonly endpoints: readonly string[];
      readonly caFile: string;
      readonly certFile: string;
      readonly keyFile: string;
    };

export interface RenderedFile {
  readonly path: string;
  readonly text: string;
  readonly mode: number;
}

function argsText(service: string, flags: readonly string[]): string {
  return `# ${service} args (one flag per line); written by microk8s, editable by operators\n${flags.join('\n')}\n`;
}

function etcdFlags(etcd: EtcdTarget | undefined): string[] {
  assert(etcd !== undefined, 'the API server is rendered for a control-plane node, which has a datastore');
  if (etcd.kind === 'embedded') return [`--etcd-servers=unix://${etcd.socket}`];
  return [
    `--etcd-servers=${etcd.endpoints.join(',')}`,
    `--etcd-cafile=${etcd.caFile}`,
    `--etcd-certfile=${etcd.certFile}`,
    `--etcd-keyfile=${etcd.keyFile}`,
  ];
}

export function apiServerArgs(ctx: RenderContext): string {
  const { certs } = ctx;
  return argsText('kube-apiserver', [
    `--secure-port=${NETWORK.apiServerPort}`,
    `--advertise-address=${ctx.address}`,
    ...etcdFlags(ctx.etcd),
    `--service-cluster-ip-range=${NETWORK.serviceCidr}`,
    '--authorization-mode=Node,RBAC',
    '--allow-privileged=true',
    `--client-ca-file=${certs.ca.certPath}`,
    `--tls-cert-file=${certs.leaves.server.certPath}`,
    `--tls-private-key-file=${certs.leaves.server.keyPath}`,
    `--kubelet-client-certificate=${certs.leaves['apiserver-kubelet-client'].certPath}`,
    `--kubelet-client-key=${certs.leaves['apiserver-kubelet-client'].keyPath}`,
    '--kubelet-preferred-address-types=InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP',
    `--service-account-key-file=${certs.serviceAccount.publicKeyPath}`,
    `--service-account-signing-key-file=${certs.serviceAccount.keyPath}`,
    '--service-account-issuer=https://kubernetes.default.svc',
    `--requestheader-client-ca-file=${certs.frontProxyCa.certPath}`,
    '--requestheader-allowed-names=front-proxy-client',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-username-headers=X-Remote-User',
    `--proxy-client-cert-file=${certs.leaves['front-proxy-client'].certPath}`,
    `--proxy-client-key-file=${certs.leaves['front-proxy-client'].keyPath}`,
    '--enable-aggregator-routing=true',
    '--profiling=false',
  ]);
}

export function controllerManagerArgs(ctx: RenderContext): string {
  const { certs } = ctx;
  const kubeconfig = certs.kubeconfigs['controller-manager'];
  return argsText('kube-controller-manager', [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    '--secure-port=10257',
    `--service-account-private-key-file=${certs.serviceAccount.keyPath}`,
    `--root-ca-file=${certs.ca.certPath}`,
    `--cluster-signing-cert-file=${certs.ca.certPath}`,
    `--cluster-signing-key-file=${certs.ca.keyPath}`,
    '--use-service-account-credentials=true',
    // Each Node gets a podCIDR; flanneld's kube subnet manager routes and hands out from it.
    '--allocate-node-cidrs=true',
    `--cluster-cidr=${NETWORK.podCidr}`,
    `--node-cidr-mask-size=${NETWORK.nodePodCidrMaskSize}`,
    `--service-cluster-ip-range=${NETWORK.serviceCidr}`,
    '--profiling=false',
  ]);
}

export function schedulerArgs(ctx: RenderContext): string {
  const kubeconfig = ctx.certs.kubeconfigs.scheduler;
  return argsText('kube-scheduler', [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    '--secure-port=10259',
    '--profiling=false',
  ]);
}

export function kubeletArgs(ctx: RenderContext): string {
  return argsText('kubelet', [
    `--config=${ctx.layout.kubeletConfig}`,
    `--kubeconfig=${ctx.certs.kubeconfigs.kubelet}`,
    `--root-dir=${ctx.layout.kubeletRoot}`,
    `--cert-dir=${join(ctx.layout.kubeletRoot, 'pki')}`,
    `--hostname-override=${ctx.hostname}`,
    `--node-ip=${ctx.address}`,
  ]);
}

/** KubeletConfiguration: cgroupfs, and on cgroup v1 `failCgroupV1: false` (needed from 1.35). */
export function kubeletConfig(ctx: RenderContext): string {
  return [
    'apiVersion: kubelet.config.k8s.io/v1beta1',
    'kind: KubeletConfiguration',
    `containerRuntimeEndpoint: unix://${ctx.layout.containerdSocket}`,
    'cgroupDriver: cgroupfs',
    `cgroupRoot: /${ctx.layout.cgroupRoot}`,
    'failCgroupV1: false',
    // Swap may be on; the kubelet must still start (MicroK8s does the same).
    'failSwapOn: false',
    'authentication:',
    '  anonymous:',
    '    enabled: false',
    '  webhook:',
    '    enabled: true',
    '  x509:',
    `    clientCAFile: ${ctx.certs.ca.certPath}`,
    'authorization:',
    '  mode: Webhook',
    'clusterDomain: cluster.local',
    'clusterDNS:',
    `- ${NETWORK.clusterDns}`,
    'healthzBindAddress: 127.0.0.1',
    'healthzPort: 10248',
    'readOnlyPort: 0',
    'serializeImagePulls: false',
    // Local images are imported, not pulled: never delete them to make room.
    'imageGCHighThresholdPercent: 100',
    'evictionHard:',
    "  memory.available: '100Mi'",
    "  nodefs.available: '1Gi'",
    "  imagefs.available: '1Gi'",
    '',
  ].join('\n');
}

export function proxyArgs(ctx: RenderContext): string {
  return argsText('kube-proxy', [
    `--kubeconfig=${ctx.certs.kubeconfigs.proxy}`,
    '--proxy-mode=iptables',
    `--cluster-cidr=${NETWORK.podCidr}`,
    `--hostname-override=${ctx.hostname}`,
    '--healthz-bind-address=127.0.0.1:10256',
    '--metrics-bind-address=127.0.0.1:10249',
    // Leave the host's conntrack table size alone (a shared or nested host may refuse it).
    '--conntrack-max-per-core=0',
    '--profiling=false',
  ]);
}

export function containerdArgs(ctx: RenderContext): string {
  return argsText('containerd', [
    `--config=${ctx.layout.containerdConfig}`,
    `--root=${ctx.layout.containerdRoot}`,
    `--state=${ctx.layout.containerdState}`,
    `--address=${ctx.layout.containerdSocket}`,
  ]);
}

/** containerd's configuration (version 3): our runc, our pause image (pinned: never GC'd), our CNI. */
export function containerdConfig(ctx: RenderContext): string {
  const q = JSON.stringify;
  return [
    'version = 3',
    '',
    '[plugins."io.containerd.cri.v1.images"]',
    '  snapshotter = "overlayfs"',
    '[plugins."io.containerd.cri.v1.images".pinned_images]',
    `  sandbox = ${q(ctx.sandboxImage)}`,
    // Per-registry hosts, read at each pull (no restart): localhost:32000 over plain HTTP.
    '[plugins."io.containerd.cri.v1.images".registry]',
    `  config_path = ${q(ctx.layout.containerdCertsDir)}`,
    '',
    '[plugins."io.containerd.cri.v1.runtime"]',
    '  enable_selinux = false',
    // Without CAP_SYS_RESOURCE no pod could start with the kubelet's low scores.
    `  restrict_oom_score_adj = ${!ctx.canLowerOomScore}`,
    // Pods' network namespaces under the node's state folder (not /run/netns), so that a stop
    // unmounts exactly this node's and nodes on one machine never see each other's.
    '  netns_mounts_under_state_dir = true',
    '[plugins."io.containerd.cri.v1.runtime".containerd]',
    '  default_runtime_name = "runc"',
    '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]',
    '  runtime_type = "io.containerd.runc.v2"',
    '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]',
    `  BinaryName = ${q(join(ctx.upstream.bin, 'runc'))}`,
    // runc's state per node, so a stop removes exactly this node's containers.
    `  Root = ${q(ctx.layout.runcRoot)}`,
    '  SystemdCgroup = false',
    '[plugins."io.containerd.cri.v1.runtime".cni]',
    `  bin_dirs = [${q(ctx.upstream.cniBin)}]`,
    `  conf_dir = ${q(ctx.layout.cniConfDir)}`,
    '',
    '[plugins."io.containerd.grpc.v1.cri"]',
    '  disable_tcp_service = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '',
  ].join('\n');
}

/** The registry addon's address, as every node's containerd reaches it (its NodePort). */
export const LOCAL_REGISTRY_HOST = 'localhost:32000';

/**
 * containerd's hosts for the registry addon: plain HTTP to localhost:32000 (its NodePort on
 * this node). Rendered on every node, as MicroK8s does, so a node that joins later trusts it too;
 * nothing answers there until the addon is enabled.
 */
export function localRegistryHosts(): string {
  const url = `http://${LOCAL_REGISTRY_HOST}`;
  return [`server = "${url}"`, '', `[host."${url}"]`, '  capabilities = ["pull", "resolve"]', ''].join('\n');
}

/**
 * flanneld on every node: the kube subnet manager with the kubelet's identity (its own Node and
 * Node status through the Node authorizer; the other Nodes through flannel-rbac.ts), the node's
 * address for the routes other nodes add to it, masquerading of traffic that leaves the pod
 * network. The node's name is the kubelet's --hostname-override (services/upstream/daemons.ts).
 */
export function flanneldArgs(ctx: RenderContext): string {
  return argsText('flanneld', [
    '--kube-subnet-mgr',
    `--kubeconfig-file=${ctx.certs.kubeconfigs.kubelet}`,
    `--iface=${ctx.address}`,
    `--public-ip=${ctx.address}`,
    '--ip-masq',
    `--subnet-file=${ctx.layout.flannelSubnetFile}`,
    `--net-config-path=${ctx.layout.flannelNetConf}`,
  ]);
}

/**
 * flannel's network: MicroK8s's pod CIDR, host-gw (a route per node through its address: the
 * nodes share one L2 segment, and no encapsulation needs a kernel module).
 */
export function flannelNetConf(): string {
  return `${JSON.stringify({ Network: NETWORK.podCidr, Backend: { Type: 'host-gw' } }, null, 2)}\n`;
}

/** Every file of the upstream daemons' configuration; a worker runs no control plane. */
export function renderUpstreamConfig(
  ctx: RenderContext,
  args: string,
  role: 'control-plane' | 'worker' = 'control-plane',
): RenderedFile[] {
  const arg = (name: string, text: string): RenderedFile => ({ path: join(args, name), text, mode: 0o644 });
  return [
    arg('containerd', containerdArgs(ctx)),
    { path: ctx.layout.containerdConfig, text: containerdConfig(ctx), mode: 0o644 },
    {
      path: join(ctx.layout.containerdCertsDir, LOCAL_REGISTRY_HOST, 'hosts.toml'),
      text: localRegistryHosts(),
      mode: 0o644,
    },
    arg('flanneld', flanneldArgs(ctx)),
    { path: ctx.layout.flannelNetConf, text: flannelNetConf(), mode: 0o644 },
    ...(role === 'control-plane'
      ? [
          arg('kube-apiserver', apiServerArgs(ctx)),
          arg('kube-controller-manager', controllerManagerArgs(ctx)),
          arg('kube-scheduler', schedulerArgs(ctx)),
        ]
      : []),
    arg('kubelet', kubeletArgs(ctx)),
    { path: ctx.layout.kubeletConfig, text: kubeletConfig(ctx), mode: 0o644 },
    arg('kube-proxy', proxyArgs(ctx)),
  ];
}
