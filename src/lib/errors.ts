/**
 * Operating errors: each has a stable `code` that scripts and tests can rely on, an exit code
 * for the CLI and a hint that tells the user what to do. The one table below is the only place
 * where a code is given its exit code and hint.
 */

/** Exit codes of the CLI (documented in the README). */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  unavailable: 3,
  invalidInput: 4,
  dataCorruption: 5,
  configuration: 78,
  internal: 70,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

interface ErrorSpec {
  readonly exitCode: ExitCode;
  readonly hint: string;
}

export const ERROR_TABLE = {
  MK_USAGE: { exitCode: ExitCode.usage, hint: 'Run `microk8s --help` to see the commands and their flags.' },
  MK_NODE_TOO_OLD: {
    exitCode: ExitCode.configuration,
    hint: 'Run microk8s through `npx microk8s` in the project folder; the project pins its Node.js runtime.',
  },
  MK_INVALID_CONFIG: { exitCode: ExitCode.configuration, hint: 'Fix the named setting and try again.' },
  MK_INVALID_ARGUMENT: { exitCode: ExitCode.invalidInput, hint: 'Check the value against the command help.' },
  MK_LIMIT_EXCEEDED: {
    exitCode: ExitCode.invalidInput,
    hint: 'The request is larger than a configured limit; split it or raise the limit.',
  },
  MK_NOT_RUNNING: { exitCode: ExitCode.unavailable, hint: 'Start the node first and try again.' },
  MK_NOT_LEADER: {
    exitCode: ExitCode.unavailable,
    hint: 'This node is not the leader; retry on the leader or wait for an election.',
  },
  MK_NO_LEADER: {
    exitCode: ExitCode.unavailable,
    hint: 'The cluster has no leader right now (no quorum reachable); it recovers when a majority of voters is back.',
  },
  MK_LEADER_LOST: {
    exitCode: ExitCode.unavailable,
    hint: 'The request was on its way to the leader when this node lost it (no quorum reachable); it may or may not have been applied. Check before retrying.',
  },
  MK_LEADER_CHANGED: {
    exitCode: ExitCode.unavailable,
    hint: 'The leader changed while the request was in flight; it may or may not have been applied. Retry it.',
  },
  MK_PROPOSAL_DROPPED: { exitCode: ExitCode.unavailable, hint: 'The proposal was not accepted; retry it.' },
  MK_TRANSFER_IN_PROGRESS: {
    exitCode: ExitCode.unavailable,
    hint: 'A leadership transfer is in progress; retry in a moment.',
  },
  MK_UNSAFE_MEMBERSHIP_CHANGE: {
    exitCode: ExitCode.invalidInput,
    hint: 'The change would leave the cluster without a quorum or break the one-change-at-a-time rule; wait for the pending change or add voters first.',
  },
  MK_DATA_CORRUPTION: {
    exitCode: ExitCode.dataCorruption,
    hint: 'The files were kept untouched; restore from a backup or recover from the other members.',
  },
  MK_BAD_FRAME: {
    exitCode: ExitCode.invalidInput,
    hint: 'A peer sent a malformed or oversized frame; the connection was closed and the node carries on.',
  },
  MK_PEER_REJECTED: {
    exitCode: ExitCode.unavailable,
    hint: 'The peer presented a certificate or identity this cluster does not accept.',
  },
  MK_TLS: { exitCode: ExitCode.configuration, hint: 'Check the certificates under the certs folder.' },
  MK_COMPACTED: {
    exitCode: ExitCode.invalidInput,
    hint: 'The requested revision has been compacted; read at a newer revision.',
  },
  MK_FUTURE_REVISION: {
    exitCode: ExitCode.invalidInput,
    hint: 'The requested revision is newer than the current revision.',
  },
  MK_LEASE_NOT_FOUND: { exitCode: ExitCode.invalidInput, hint: 'The lease does not exist or has expired.' },
  MK_NO_SPACE: {
    exitCode: ExitCode.unavailable,
    hint: 'The database is over its space quota: compact, defragment, then disarm the NOSPACE alarm.',
  },
  MK_TIMEOUT: { exitCode: ExitCode.unavailable, hint: 'The operation did not finish in time; retry it.' },
  MK_STOPPED: { exitCode: ExitCode.unavailable, hint: 'The node is stopping or stopped.' },
  MK_INTERNAL: { exitCode: ExitCode.internal, hint: 'This is a bug; please report it with the logs.' },
  MK_CERTS_MISSING: {
    exitCode: ExitCode.configuration,
    hint: 'This node has no certificate set yet; it is created when the node is set up (the snap install hook). Restore the certs folder from a backup if it was removed.',
  },
  MK_JOIN_STRING_EMPTY: {
    exitCode: ExitCode.invalidInput,
    hint: 'Pass the join string that `microk8s add-node` printed on a cluster node: IP:PORT/TOKEN/CERTHASH.',
  },
  MK_JOIN_STRING_SCHEME: {
    exitCode: ExitCode.invalidInput,
    hint: 'A join string has no scheme: drop the leading `https://` and pass IP:PORT/TOKEN/CERTHASH.',
  },
  MK_JOIN_STRING_SHAPE: {
    exitCode: ExitCode.invalidInput,
    hint: 'The join string must be IP:PORT/TOKEN or IP:PORT/TOKEN/CERTHASH; copy the whole line `microk8s add-node` printed.',
  },
  MK_JOIN_STRING_HOST: {
    exitCode: ExitCode.invalidInput,
    hint: 'The address must be an IPv4 address, a bracketed IPv6 address ([2001:db8::1]) or a hostname.',
  },
  MK_JOIN_STRING_IPV6_BRACKETS: {
    exitCode: ExitCode.invalidInput,
    hint: 'Write an IPv6 address in brackets so its port is unambiguous: [2001:db8::1]:25000/TOKEN/CERTHASH.',
  },
  MK_JOIN_STRING_PORT_MISSING: {
    exitCode: ExitCode.invalidInput,
    hint: 'Add the cluster agent port after the address (25000 by default): IP:25000/TOKEN/CERTHASH.',
  },
  MK_JOIN_STRING_PORT: {
    exitCode: ExitCode.invalidInput,
    hint: 'The port must be a number from 1 to 65535 (the cluster agent listens on 25000 by default).',
  },
  MK_JOIN_STRING_TOKEN: {
    exitCode: ExitCode.invalidInput,
    hint: 'The token is hexadecimal (0-9, a-f); copy it again from the output of `microk8s add-node`.',
  },
  MK_JOIN_STRING_TOKEN_SHORT: {
    exitCode: ExitCode.invalidInput,
    hint: 'The token has at least 32 hexadecimal characters; the string was probably cut when copied.',
  },
  MK_JOIN_STRING_CERT_HASH: {
    exitCode: ExitCode.invalidInput,
    hint: 'The certificate hash is hexadecimal, at most 64 characters; copy it again from the output of `microk8s add-node`.',
  },
  MK_JOIN_STRING_CERT_HASH_SHORT: {
    exitCode: ExitCode.invalidInput,
    hint: 'The certificate hash has at least 12 hexadecimal characters; the string was probably cut when copied.',
  },
  MK_JOIN_TOKEN_INVALID: {
    exitCode: ExitCode.invalidInput,
    hint: 'The cluster does not know this token; run `microk8s add-node` on a cluster node for a new one.',
  },
  MK_JOIN_TOKEN_EXPIRED: {
    exitCode: ExitCode.invalidInput,
    hint: 'The token has expired; run `microk8s add-node` (optionally with a longer --token-ttl) for a new one.',
  },
  MK_JOIN_TOKEN_USED: {
    exitCode: ExitCode.invalidInput,
    hint: 'This single-use token was already used by a join; run `microk8s add-node` for a new one, or --token-ttl for a reusable one.',
  },
  MK_PROXY_NO_UPSTREAM: {
    exitCode: ExitCode.unavailable,
    hint: 'No control-plane node answers on its API server port: check that they run and that this node reaches them; the proxy uses them again as soon as a health check succeeds.',
  },
  MK_PROXY_LISTEN: {
    exitCode: ExitCode.configuration,
    hint: 'The API server proxy cannot listen on its address: stop whatever holds the port, or choose another address.',
  },
  MK_PROXY_CONFIG: {
    exitCode: ExitCode.configuration,
    hint: 'Fix the named flag in the apiserver-proxy args file ($SNAP_DATA/args/apiserver-proxy): --listen=HOST:PORT and one --upstream=HOST:PORT per control-plane node.',
  },
  MK_SERVICE_UNKNOWN: {
    exitCode: ExitCode.invalidInput,
    hint: 'Name one of the services: datastore, cluster-agent, containerd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, apiserver-proxy.',
  },
  MK_SERVICE_BAD_FLAG: {
    exitCode: ExitCode.invalidInput,
    hint: 'A flag is a lowercase name (letters, digits, -) without the leading --, and a value is one line.',
  },
  MK_SERVICE_RESTART: {
    exitCode: ExitCode.unavailable,
    hint: 'The service did not come back after the restart: see its log under the logs folder (or `snap logs`), fix its args file and restart it again.',
  },
  MK_CONFIGURE_SKIPPED: {
    exitCode: ExitCode.unavailable,
    hint: 'An earlier node failed to come back, so the rolling change stopped there; fix that node, then run configure again.',
  },
  MK_AGENT_UNREACHABLE: {
    exitCode: ExitCode.unavailable,
    hint: 'Nothing answered at that address and port: check that the cluster agent runs on the node that printed the join string (port 25000 by default) and that a firewall lets this machine reach it.',
  },
  MK_AGENT_CERT_MISMATCH: {
    exitCode: ExitCode.invalidInput,
    hint: 'The agent presented a certificate whose hash differs from the join string: copy the line `microk8s add-node` printed again (certificates change when they are refreshed), or check that the address really is a cluster node.',
  },
  MK_AGENT_PROTOCOL: {
    exitCode: ExitCode.failure,
    hint: 'The address answered, but not as a microk8s cluster agent; check the address and port.',
  },
  MK_AGENT_BAD_REQUEST: {
    exitCode: ExitCode.invalidInput,
    hint: 'The cluster agent refused a malformed request; the two nodes may run incompatible versions.',
  },
  MK_AGENT_LISTEN: {
    exitCode: ExitCode.configuration,
    hint: 'The cluster agent cannot listen on its address: stop whatever holds the port, or set another with --bind in the cluster-agent args file.',
  },
  MK_JOIN_NO_CERT_HASH: {
    exitCode: ExitCode.invalidInput,
    hint: 'Without a certificate hash the agent cannot be verified and the token would go to whoever answers: pass the full IP:PORT/TOKEN/CERTHASH line add-node prints.',
  },
  MK_JOIN_SHORT_PIN: {
    exitCode: ExitCode.invalidInput,
    hint: 'Use the full line add-node prints (a 32-hex-digit certificate hash), or accept a weaker pin with --allow-short-pin.',
  },
  MK_JOIN_TOKEN_ROLE: {
    exitCode: ExitCode.invalidInput,
    hint: 'This token was made by `add-node --worker` and only admits workers: join with --worker, or run `microk8s add-node` (without --worker) for a control-plane token.',
  },
  MK_JOIN_NAME_TAKEN: {
    exitCode: ExitCode.invalidInput,
    hint: 'Another node of the cluster has this name: join with --hostname set to a free name, or `microk8s remove-node` the old node first.',
  },
  MK_CERT_REVOKED: {
    exitCode: ExitCode.invalidInput,
    hint: 'This certificate was revoked (its node was removed): join the node again with a new token.',
  },
  MK_JOIN_ALREADY_MEMBER: {
    exitCode: ExitCode.invalidInput,
    hint: 'This node already belongs to a cluster of several members; run `microk8s leave` first.',
  },
  MK_JOIN_LOCAL_RUNNING: {
    exitCode: ExitCode.failure,
    hint: "This node's single-node datastore is running and a join replaces it: stop it first, then join again (the token was not used).",
  },
  MK_JOIN_HOSTNAME: {
    exitCode: ExitCode.invalidInput,
    hint: 'The joining node needs a hostname that can name a Kubernetes node: letters, digits, - and ., at most 52 characters.',
  },
  MK_JOIN_ADDRESS: {
    exitCode: ExitCode.invalidInput,
    hint: 'The joining node must give an IP address the other members can reach (not 0.0.0.0 or a multicast address).',
  },
  MK_JOIN_ADDRESS_IN_USE: {
    exitCode: ExitCode.invalidInput,
    hint: 'A member of the cluster already uses this address: remove the stale member (`microk8s remove-node`) or join from another address.',
  },
  MK_JOIN_VERSION_SKEW: {
    exitCode: ExitCode.configuration,
    hint: 'The two nodes run versions too far apart: refresh the snap on one of them so both run the same minor version (or adjacent ones).',
  },
  MK_AGENT_UNAUTHORIZED: {
    exitCode: ExitCode.invalidInput,
    hint: 'This agent request needs a cluster member certificate (the node peer certificate and key); run it from a member.',
  },
  MK_CSR_INVALID: {
    exitCode: ExitCode.invalidInput,
    hint: 'The certificate request must be PEM, carry a valid signature and ask for the identity of the joining node.',
  },
  MK_MEMBER_ALIVE: {
    exitCode: ExitCode.invalidInput,
    hint: 'The node still answers its peers: run `microk8s leave` on it, or `microk8s remove-node NODE --force` if it must go anyway.',
  },
  MK_MEMBER_ID_TAKEN: {
    exitCode: ExitCode.failure,
    hint: 'Another node was given this member id at the same moment; the join retries with the next id.',
  },
  MK_ADDRESS_AMBIGUOUS: {
    exitCode: ExitCode.invalidInput,
    hint: "Name this node's new address: `microk8s refresh-address --address IP`.",
  },
  MK_ADDRESS_MISSING: {
    exitCode: ExitCode.unavailable,
    hint: 'Bring up the network interface (or wait for its new lease), then run `microk8s refresh-address` again.',
  },
  MK_IMAGE_INVALID: {
    exitCode: ExitCode.invalidInput,
    hint: 'Pass an OCI image-layout tar or a docker-archive tar (`docker save`, `skopeo copy ... oci-archive:`, `microk8s images export-local`), complete and undamaged.',
  },
  MK_REGISTRY_PUSH_FAILED: {
    exitCode: ExitCode.failure,
    hint: 'The registry refused or did not answer (read its status and message); for the registry addon, check `microk8s status -a registry` and that localhost:32000 answers.',
  },
  MK_CONTAINERD_UNAVAILABLE: {
    exitCode: ExitCode.unavailable,
    hint: 'containerd is not running on this node, or ctr is missing: start the node (`microk8s start`); outside a snap, build the upstream parts first (`npm run build:upstream`).',
  },
  MK_ADDON_UNKNOWN: {
    exitCode: ExitCode.invalidInput,
    hint: 'Run `microk8s status` to list the addons of every repository, and check the name.',
  },
  MK_ADDON_ARGS: {
    exitCode: ExitCode.invalidInput,
    hint: 'Give each addon its arguments one way: NAME:VALUE,VALUE or NAME --arg VALUE, with values of the type its help names.',
  },
  MK_ADDON_REPOSITORY: {
    exitCode: ExitCode.configuration,
    hint: 'An addon repository is a folder with an addons.yaml index and one folder per addon; fix the file or folder named.',
  },
  MK_ADDON_MANIFEST_INVALID: {
    exitCode: ExitCode.invalidInput,
    hint: 'The named object breaks the Kubernetes schema at the named field; fix the manifest. Nothing was applied.',
  },
  MK_ADDON_CONFLICT: {
    exitCode: ExitCode.invalidInput,
    hint: 'Disable the conflicting addon first, or pick an addon that supports this architecture.',
  },
  MK_ADDON_IMAGE_MISSING: {
    exitCode: ExitCode.configuration,
    hint: "The addon's local image is not built: run `npm run build:upstream` (outside a snap), then enable again.",
  },
  MK_ADDON_FAILED: {
    exitCode: ExitCode.failure,
    hint: 'The named step failed and what it applied was rolled back; read the message and the pod events (`microk8s kubectl get events -A`).',
  },
  MK_ADDON_NOT_ENABLED: {
    exitCode: ExitCode.configuration,
    hint: 'Enable the addon first (`microk8s enable NAME`); `microk8s status` lists the enabled ones.',
  },
  MK_ADDON_GIT_UNREACHABLE: {
    exitCode: ExitCode.unavailable,
    hint: 'git could not clone or fetch the URL (or git is not installed): check the URL, the network and any credentials it needs (git never prompts here), then retry.',
  },
  MK_ADDON_GIT_REFERENCE: {
    exitCode: ExitCode.invalidInput,
    hint: 'Name a branch, a tag or a commit the repository has (`git ls-remote URL` lists them).',
  },
  MK_ADDON_REPO_NOT_GIT: {
    exitCode: ExitCode.invalidInput,
    hint: 'Only a repository added from a git URL can be updated; a folder repository is read in place, so edit the folder.',
  },
  MK_ADDON_NEEDS_REGISTRY: {
    exitCode: ExitCode.configuration,
    hint: "This addon's images cannot be built here: pull or import them into containerd (`microk8s images import`), or map them to images you have (`microk8s addons images set UPSTREAM LOCAL`), then enable again.",
  },
  MK_IMAGE_MAPPING_UNKNOWN: {
    exitCode: ExitCode.invalidInput,
    hint: 'Run `microk8s addons images list` to see the mappings; only an override you set can be unset.',
  },
  MK_ADDON_LOCKED: {
    exitCode: ExitCode.unavailable,
    hint: 'Another enable or disable holds the cluster-wide addon lock; wait for it (a dead holder releases it when its lease expires) and retry.',
  },
  MK_KUBE_API: {
    exitCode: ExitCode.failure,
    hint: 'The Kubernetes API refused the request; read its message (the object and field it names).',
  },
  MK_IMAGE_BUILD_FAILED: {
    exitCode: ExitCode.failure,
    hint: 'A local image recipe (snap/local/images) could not run: install what the message names (go, apt-get, dpkg-deb), run `apt-get update` once, then build again.',
  },
  MK_IMAGE_CTR_FAILED: {
    exitCode: ExitCode.failure,
    hint: "containerd refused the request: read ctr's message above; for an import, check the archive's platform and names.",
  },
  MK_NOT_READY: {
    exitCode: ExitCode.unavailable,
    hint: 'Kubernetes is starting or a service keeps failing: see `microk8s inspect` and the logs under the node folder.',
  },
  MK_LAB_NETWORK: {
    exitCode: ExitCode.configuration,
    hint: 'The Kubernetes lab needs root and iproute2 (network namespaces, veth, bridge): run it as root.',
  },
  MK_NO_CREDENTIALS: {
    exitCode: ExitCode.unavailable,
    hint: 'This node has no Kubernetes credentials yet: run `microk8s start` (it sets a new node up first).',
  },
  MK_UPSTREAM_MISSING: {
    exitCode: ExitCode.configuration,
    hint: 'The upstream binaries are not installed: outside a snap, run `npm run build:upstream` in the project folder.',
  },
  MK_REFRESH_REFUSED: {
    exitCode: ExitCode.unavailable,
    hint: 'snapd retries the refresh later by itself; `microk8s status` shows the members and who holds the refresh lease.',
  },
  MK_MIGRATION_FAILED: {
    exitCode: ExitCode.failure,
    hint: 'The migration was rolled back and the node keeps its data as it was; see the hook log (`snap logs microk8s`) and report the error.',
  },
  MK_SNAPCTL: {
    exitCode: ExitCode.unavailable,
    hint: 'snapctl works only inside the snap (hooks and apps); outside it, use `microk8s start|stop`.',
  },
  MK_SNAPD_TOO_OLD: {
    exitCode: ExitCode.unavailable,
    hint: 'This snapd gives snaps no refresh control (`snapctl refresh --pending`/`--hold`): update snapd (`snap refresh snapd`), or hold on the host with `snap refresh --hold=<duration> microk8s`.',
  },
  MK_FLANNEL_SUBNET_INVALID: {
    exitCode: ExitCode.dataCorruption,
    hint: "flanneld's subnet file is damaged, so the node's pod network cannot be written: restart flanneld (`microk8s stop` and `start`), which writes it again; see the flanneld log.",
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_TABLE;

export function errorSpec(code: ErrorCode): ErrorSpec {
  return ERROR_TABLE[code];
}

/** Base class of every operating error. */
export class MicroK8sError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  readonly hint: string;
  readonly info: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, info: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MicroK8sError';
    this.code = code;
    const spec = errorSpec(code);
    this.exitCode = spec.exitCode;
    this.hint = spec.hint;
    this.info = info;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint, ...this.info };
  }
}

export function isMicroK8sError(error: unknown, code?: ErrorCode): error is MicroK8sError {
  return error instanceof MicroK8sError && (code === undefined || error.code === code);
}
