/**
 * A node ready to run Kubernetes, as the snap's install hook leaves it: on a node that was
 * never set up, a single-node cluster (certificates, datastore, cluster agent: `agent init`) on
 * the address of the default route; then every upstream daemon's configuration that is still
 * missing. Files that exist are kept as they are: they may hold an operator's edits.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { networkInterfaces, hostname as osHostname } from 'node:os';
import { dirname, join } from 'node:path';
import { MicroK8sError } from '../../lib/errors.js';
import type { Paths } from '../../lib/paths.js';
import { resolveUpstreamPaths } from '../../lib/upstream-paths.js';
import { editArgsFile } from '../../node/args-file.js';
import { writeFileAtomic } from '../../node/atomic-write.js';
import { currentNodeRecord } from '../../node/record.js';
import { SANDBOX_IMAGE } from '../../services/images/names.js';
import { canLowerOomScore } from '../../services/upstream/host-prep.js';
import { upstreamLayout } from '../../services/upstream/layout.js';
import { configuredAddress } from '../address-change/configured.js';
import { agentContext } from '../agent/context.js';
import { etcdSocketPath } from '../agent/datastore-args.js';
import { AGENT_LIMITS } from '../agent/limits.js';
import { initSingleNode } from '../agent/node-init.js';
import { usableAddresses } from '../join/addresses.js';
import { parseKubeconfig } from '../pki/kubeconfig.js';
import { nodeHostname } from '../pki/names.js';
import { type EtcdTarget, type RenderContext, type RenderedFile, renderUpstreamConfig } from './render.js';

export interface SetupOptions {
  /** The node's address for a fresh node; the first usable address otherwise. */
  readonly address?: string;
  readonly hostname?: string;
  /** kube-apiserver on an existing etcd cluster instead of this node's datastore. */
  readonly externalEtcd?: Extract<EtcdTarget, { kind: 'external' }>;
}

export interface SetupResult {
  /** True when this call set the node up as a new single-node cluster. */
  readonly initialised: boolean;
  readonly address: string;
  readonly written: string[];
}

function defaultAddress(): string {
  const first = usableAddresses(networkInterfaces())[0];
  if (!first) {
    throw new MicroK8sError(
      'MK_INVALID_CONFIG',
      'this machine has no usable network address (only loopback or link-local)',
      { hint: 'Give one with --address, or bring up a network interface.' },
    );
  }
  return first.address;
}

/**
 * The node name the kubelet's certificate was issued for (CN system:node:NAME): what `agent
 * init` or `join --hostname` chose, so the kubelet registers under the name it may use.
 */
function kubeletNodeNameFromCertificate(kubeconfig: string): string | undefined {
  try {
    const content = parseKubeconfig(readFileSync(kubeconfig, 'utf8'), kubeconfig);
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(new X509Certificate(content.certPem).subject)?.[1];
    return cn?.startsWith('system:node:') ? cn.slice('system:node:'.length) : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the files that do not exist yet (existing ones may hold an operator's edits). */
async function writeMissing(files: readonly RenderedFile[]): Promise<string[]> {
  const written: string[] = [];
  for (const file of files) {
    if (existsSync(file.path)) continue;
    await mkdir(dirname(file.path), { recursive: true });
    await writeFileAtomic(file.path, file.text, { mode: file.mode });
    written.push(file.path);
  }
  return written;
}

export async function ensureKubernetesNode(paths: Paths, options: SetupOptions = {}): Promise<SetupResult> {
  const ctx = agentContext(paths);
  const record = currentNodeRecord(paths);
  if (record.kind === 'worker')
    return ensureWorkerNode(paths, record.address ?? options.address ?? defaultAddress());
  let initialised = false;
  if (!existsSync(ctx.datastoreArgs)) {
    await initSingleNode(ctx, {
      address: options.address ?? defaultAddress(),
      ...(options.hostname ? { hostname: options.hostname } : {}),
    });
    initialised = true;
  }
  const address = configuredAddress(ctx) ?? options.address ?? defaultAddress();
  const render: RenderContext = {
    certs: ctx.certs,
    layout: upstreamLayout(paths),
    upstream: resolveUpstreamPaths(),
    hostname:
      kubeletNodeNameFromCertificate(ctx.certs.kubeconfigs.kubelet) ??
      nodeHostname(options.hostname ?? osHostname()),
    address,
    etcd: options.externalEtcd ?? { kind: 'embedded', socket: etcdSocketPath(ctx.datastoreDir) },
    sandboxImage: SANDBOX_IMAGE,
    canLowerOomScore: canLowerOomScore(),
  };
  const written: string[] = [];
  if (!existsSync(ctx.agentArgs)) {
    // A node that joined has no agent args yet; every control-plane node runs its agent.
    const host = address.includes(':') ? `[${address}]` : address;
    await writeFileAtomic(
      ctx.agentArgs,
      `# cluster agent args (one flag per line)\n--bind=${host}:${AGENT_LIMITS.defaultPort}\n`,
    );
    written.push(ctx.agentArgs);
  }
  const apiServerArgs = join(paths.args, 'kube-apiserver');
  if (options.externalEtcd && existsSync(apiServerArgs)) {
    // A node set up before: its API server moves to the external etcd, other flags stay.
    const etcd = options.externalEtcd;
    await editArgsFile(apiServerArgs, {
      set: {
        'etcd-servers': etcd.endpoints.join(','),
        'etcd-cafile': etcd.caFile,
        'etcd-certfile': etcd.certFile,
        'etcd-keyfile': etcd.keyFile,
      },
    });
    written.push(apiServerArgs);
  }
  written.push(...(await writeMissing(renderUpstreamConfig(render, paths.args))));
  return { initialised, address, written };
}

/** A worker (joined with --worker): containerd, the kubelet and kube-proxy through its API-server proxy. */
async function ensureWorkerNode(paths: Paths, address: string): Promise<SetupResult> {
  const ctx = agentContext(paths);
  const render: RenderContext = {
    certs: ctx.certs,
    layout: upstreamLayout(paths),
    upstream: resolveUpstreamPaths(),
    hostname: kubeletNodeNameFromCertificate(ctx.certs.kubeconfigs.kubelet) ?? nodeHostname(osHostname()),
    address,
    sandboxImage: SANDBOX_IMAGE,
    canLowerOomScore: canLowerOomScore(),
  };
  return {
    initialised: false,
    address,
    written: await writeMissing(renderUpstreamConfig(render, paths.args, 'worker')),
  };
}
