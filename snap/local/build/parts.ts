/**
 * The upstream parts microk8s ships, each built from a pinned wrapper Go module beside this
 * folder (snap/local/<part>/). The snap's parts use the same recipes. A part's spec is part of
 * its cache key: change a flag here and that part is built again, nothing else.
 */

export interface GoBinary {
  /** The package to build (a main package of the wrapper module or of a module it requires). */
  readonly pkg: string;
  /** The file name in the output folder. */
  readonly name: string;
  /** Build tags for this binary alone, added to the part's tags. */
  readonly extraTags?: readonly string[];
  /**
   * An upstream main package built with some of its imports left out, because a module that
   * only those imports need is not served (go-build.ts puts the trimmed file into an overlay;
   * `pkg` is then the overlay's folder in the wrapper module).
   */
  readonly trimmedMain?: TrimmedMain;
  /** Exact edits of upstream files, for an API its pinned dependencies changed (source-patch.ts). */
  readonly patches?: readonly SourcePatch[];
}

export interface SourcePatch {
  /** The module whose file is edited, at the version the wrapper module's go.mod selects. */
  readonly module: string;
  /** Relative to the module's root. */
  readonly file: string;
  /** Text that must appear exactly once in the file, and what replaces it. */
  readonly find: string;
  readonly replace: string;
  /** Why the edit is needed (printed when it no longer applies). */
  readonly why: string;
}

export interface TrimmedMain {
  readonly module: string;
  /** The main package's one source file, relative to the module's root. */
  readonly file: string;
  /** Blank imports (`_ "path"`) to leave out; each must appear exactly once. */
  readonly dropImports: readonly string[];
}

export interface GoPart {
  readonly name: string;
  /** The wrapper module's folder, relative to snap/local. */
  readonly moduleDir: string;
  /** The upstream version, as its tools report it. */
  readonly version: string;
  /** cgo only where upstream cannot work without it (runc's nsenter is C). */
  readonly cgo: boolean;
  readonly tags: readonly string[];
  readonly ldflags: readonly string[];
  readonly binaries: readonly GoBinary[];
  /** Extra names in bin/ that point at one binary: a multi-call binary's commands. */
  readonly links?: Readonly<Record<string, string>>;
  /** Debian packages the build needs (cgo headers and libraries), installed when missing. */
  readonly debianBuildDeps?: readonly string[];
  /** The arguments that make a binary print its version (checked after the build). */
  readonly versionArgs: Readonly<Record<string, readonly string[]>>;
}

export const KUBERNETES_VERSION = 'v1.36.3';
export const CONTAINERD_VERSION = 'v2.2.9';
export const RUNC_VERSION = '1.4.4';
export const CNI_PLUGINS_VERSION = 'v1.9.1';
export const ETCD_VERSION = 'v3.6.16';
export const FLANNEL_VERSION = 'v0.28.10';
/** v4.2.4: helm v4.3 requires the k8s.io modules at v0.37; ours stay at KUBERNETES_VERSION's. */
export const HELM_VERSION = 'v4.2.4';

const [kubeMajor, kubeMinor] = KUBERNETES_VERSION.slice(1).split('.');

/** The version variables `make` sets in Kubernetes' own release builds (hack/lib/version.sh). */
function kubernetesVersionFlags(): string[] {
  const flags: string[] = [];
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    flags.push(
      `-X ${pkg}.gitVersion=${KUBERNETES_VERSION}`,
      `-X ${pkg}.gitMajor=${kubeMajor}`,
      `-X ${pkg}.gitMinor=${kubeMinor}`,
      `-X ${pkg}.gitTreeState=clean`,
    );
  }
  return flags;
}

const containerdPkg = 'github.com/containerd/containerd/v2';
const cniPkg = 'github.com/containernetworking/plugins';
const flannelPkg = 'github.com/flannel-io/flannel';
const helmPkg = 'helm.sh/helm/v4';

export const PARTS: readonly GoPart[] = [
  {
    name: 'kubernetes',
    moduleDir: 'kubernetes',
    version: KUBERNETES_VERSION,
    cgo: false,
    tags: ['providerless'],
    ldflags: ['-s', '-w', ...kubernetesVersionFlags()],
    binaries: [{ pkg: '.', name: 'kubernetes' }],
    links: {
      'kube-apiserver': 'kubernetes',
      'kube-controller-manager': 'kubernetes',
      'kube-scheduler': 'kubernetes',
      kubelet: 'kubernetes',
      'kube-proxy': 'kubernetes',
      kubectl: 'kubernetes',
    },
    versionArgs: { kubernetes: ['kubectl', 'version', '--client'] },
  },
  {
    name: 'containerd',
    moduleDir: 'containerd',
    version: CONTAINERD_VERSION,
    cgo: false,
    // No btrfs, devmapper or zfs snapshotters: overlayfs and native cover a node.
    tags: ['urfave_cli_no_docs', 'no_btrfs', 'no_devmapper', 'no_zfs', 'osusergo', 'netgo'],
    ldflags: [
      '-s',
      '-w',
      `-X ${containerdPkg}/version.Version=${CONTAINERD_VERSION}`,
      `-X ${containerdPkg}/version.Package=${containerdPkg}`,
    ],
    binaries: [
      { pkg: `${containerdPkg}/cmd/containerd`, name: 'containerd' },
      {
        pkg: `${containerdPkg}/cmd/containerd-shim-runc-v2`,
        name: 'containerd-shim-runc-v2',
        extraTags: ['no_grpc'],
      },
      { pkg: `${containerdPkg}/cmd/ctr`, name: 'ctr' },
    ],
    versionArgs: { containerd: ['--version'], ctr: ['--version'] },
  },
  {
    name: 'runc',
    moduleDir: 'runc',
    version: RUNC_VERSION,
    // runc's nsenter is C and needs cgo. With seccomp, as upstream builds it: containerd gives
    // every sandbox its default seccomp profile, which a runc without it refuses.
    cgo: true,
    tags: ['seccomp', 'netgo', 'osusergo'],
    debianBuildDeps: ['libseccomp-dev'],
    ldflags: ['-s', '-w', `-X main.version=${RUNC_VERSION}`],
    binaries: [{ pkg: 'github.com/opencontainers/runc', name: 'runc' }],
    versionArgs: { runc: ['--version'] },
  },
  {
    name: 'cni',
    moduleDir: 'cni',
    version: CNI_PLUGINS_VERSION,
    cgo: false,
    tags: [],
    ldflags: ['-s', '-w', `-X ${cniPkg}/pkg/utils/buildversion.BuildVersion=${CNI_PLUGINS_VERSION}`],
    binaries: [
      { pkg: `${cniPkg}/plugins/main/bridge`, name: 'bridge' },
      { pkg: `${cniPkg}/plugins/main/loopback`, name: 'loopback' },
      { pkg: `${cniPkg}/plugins/ipam/host-local`, name: 'host-local' },
      { pkg: `${cniPkg}/plugins/meta/portmap`, name: 'portmap' },
    ],
    versionArgs: {},
  },
  {
    // An external etcd for kube-apiserver (a node that outgrew the embedded store), and the
    // etcd the tests and benchmarks hold ours against.
    name: 'etcd',
    moduleDir: 'etcd',
    version: ETCD_VERSION,
    cgo: false,
    tags: [],
    ldflags: ['-s', '-w'],
    binaries: [
      { pkg: 'go.etcd.io/etcd/server/v3', name: 'etcd' },
      { pkg: 'go.etcd.io/etcd/etcdctl/v3', name: 'etcdctl' },
    ],
    versionArgs: { etcd: ['--version'], etcdctl: ['version'] },
  },
  {
    // flanneld: the pod network across nodes (kube subnet manager, host-gw backend). Its main
    // package registers every backend; the Tencent Cloud VPC one needs an SDK module the module
    // proxy does not serve, so that one import is left out. cgo as in upstream's amd64 build:
    // the UDP backend's packet proxy is C there, and without cgo that package does not compile.
    name: 'flannel',
    moduleDir: 'flannel',
    version: FLANNEL_VERSION,
    cgo: true,
    tags: ['netgo', 'osusergo'],
    ldflags: ['-s', '-w', `-X ${flannelPkg}/pkg/version.Version=${FLANNEL_VERSION}`],
    binaries: [
      {
        pkg: './flanneld',
        name: 'flanneld',
        trimmedMain: {
          module: flannelPkg,
          file: 'main.go',
          dropImports: [`${flannelPkg}/pkg/backend/tencentvpc`],
        },
      },
    ],
    versionArgs: { flanneld: ['--version'] },
  },
  {
    // The helm CLI behind `microk8s helm` (the helm addon). The version variables helm's own
    // Makefile sets; no git metadata, as in a build from the module.
    name: 'helm',
    moduleDir: 'helm',
    version: HELM_VERSION,
    cgo: false,
    tags: ['netgo', 'osusergo'],
    ldflags: ['-s', '-w', `-X ${helmPkg}/internal/version.version=${HELM_VERSION}`],
    binaries: [{ pkg: `${helmPkg}/cmd/helm`, name: 'helm' }],
    versionArgs: { helm: ['version', '--short'] },
  },
];
