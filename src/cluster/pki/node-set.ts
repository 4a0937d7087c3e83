/**
 * A node's full certificate set under one folder (see layout.ts): the cluster CA, the API
 * server certificate, the front-proxy CA and client, the service-account key pair, the
 * datastore peer certificate and the component kubeconfigs.
 *
 * Idempotent: what exists and is still right (signed by the current CA, matching key, the
 * expected names and addresses, not about to expire) is kept; anything else is (re-)issued.
 * Calling it with a node's new addresses therefore re-issues exactly the certificates that
 * name them. CAs and the service-account key are never replaced here.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DATASTORE_CLIENT_ORGANIZATION } from '../../datastore/etcd/client-identity.js';
import { nodeIdFromCertificate, peerCertificateNames } from '../../datastore/transport/identity.js';
import { createLogger } from '../../lib/log.js';
import { writeFileAtomic } from '../../node/atomic-write.js';
import { withFileLock } from '../../node/lock.js';
import { exists, PRIVATE_DIR_MODE, PRIVATE_MODE, withScratch } from '../files.js';
import { type CaFiles, ensureClusterCa, type IssueOptions, issueCertificate } from '../pki.js';
import { API_SERVER_URL, parseKubeconfig, renderKubeconfig } from './kubeconfig.js';
import {
  type CertsLayout,
  certsLayout,
  KUBECONFIG_NAMES,
  type KubeconfigName,
  type LeafName,
} from './layout.js';
import { apiServerNames, clientIdentity, LOOPBACK_IP, nodeHostname, nodeIps } from './names.js';
import { ensureServiceAccountKeys } from './service-account.js';
import { leafProblem } from './validity.js';

const log = createLogger('cluster.pki');
/**
 * The lock of a certs folder lives beside it (`.certs.pki.lock`), not in it: a lock file stays
 * (src/node/lock.ts), and a backup of the folder must not carry one along.
 */
export function pkiLockFile(dir: string): string {
  return join(dirname(dir), `.${basename(dir)}.pki.lock`);
}

export interface NodeCertificateOptions {
  /** This machine's hostname (lowercased; it names the Kubernetes node). */
  readonly hostname: string;
  /** Every address of this node; loopback and the service IP are added. */
  readonly ips: readonly string[];
  /** The datastore node id for the peer certificate; default: the current peer.crt's, else 1. */
  readonly nodeId?: number;
  /** Re-issue every non-CA certificate even when it is valid (refresh-certs). */
  readonly reissue?: boolean;
  readonly now?: () => number;
}

export type CertificateActionKind = 'created' | 'kept' | 'reissued' | 'repaired';

export interface CertificateAction {
  readonly name: string;
  readonly action: CertificateActionKind;
  /** Why it was re-issued (never key material). */
  readonly reason?: string;
}

export interface NodeCertificates {
  readonly layout: CertsLayout;
  readonly actions: CertificateAction[];
}

interface Context {
  readonly layout: CertsLayout;
  readonly reissue: boolean;
  readonly now: () => number;
  readonly actions: CertificateAction[];
}

async function readX509(path: string): Promise<X509Certificate | undefined> {
  try {
    return new X509Certificate(await readFile(path));
  } catch {
    return undefined;
  }
}

type Verdict = { action: 'kept' | 'created' | 'repaired' } | { action: 'reissued'; reason: string };

function verdict(ctx: Context, problem: string | undefined, present: boolean): Verdict {
  if (!present) return { action: 'created' };
  if (ctx.reissue) return { action: 'reissued', reason: 'requested' };
  return problem === undefined ? { action: 'kept' } : { action: 'reissued', reason: problem };
}

function record(ctx: Context, name: string, result: Verdict): void {
  ctx.actions.push(
    result.action === 'reissued' ? { name, action: 'reissued', reason: result.reason } : { name, ...result },
  );
  if (result.action === 'kept') return;
  log.info(`${result.action} ${name}`, result.action === 'reissued' ? { reason: result.reason } : {});
}

async function ensureCa(ctx: Context, name: 'ca' | 'front-proxy-ca', commonName: string): Promise<CaFiles> {
  const files = name === 'ca' ? ctx.layout.ca : ctx.layout.frontProxyCa;
  const present = await exists(files.certPath);
  const ca = await ensureClusterCa(ctx.layout.dir, { name, commonName });
  record(ctx, name, present ? { action: 'kept' } : { action: 'created' });
  return ca;
}

async function ensureLeaf(ctx: Context, ca: CaFiles, name: LeafName, options: IssueOptions): Promise<void> {
  const files = ctx.layout.leaves[name];
  const [cert, caCert] = await Promise.all([readX509(files.certPath), readX509(ca.certPath)]);
  const present = cert !== undefined && (await exists(files.keyPath));
  let problem: string | undefined = 'unreadable';
  if (present && cert && caCert) {
    const sans = [
      ...(options.dnsNames ?? []).map((n) => `DNS:${n}`),
      ...(options.ips ?? []).map((ip) => `IP:${ip}`),
    ];
    const expected = { commonName: options.commonName, organization: options.organization, sans };
    problem = leafProblem(cert, await readFile(files.keyPath), caCert, expected, ctx.now());
  }
  const result = verdict(ctx, problem, present);
  if (result.action !== 'kept') await issueCertificate(ca, ctx.layout.dir, name, options);
  record(ctx, name, result);
}

async function kubeconfigProblem(
  ctx: Context,
  path: string,
  caCert: X509Certificate,
  hostname: string,
  name: KubeconfigName,
): Promise<string | undefined> {
  let content: ReturnType<typeof parseKubeconfig>;
  let cert: X509Certificate;
  try {
    content = parseKubeconfig(await readFile(path, 'utf8'), path);
    cert = new X509Certificate(content.certPem);
    if (!new X509Certificate(content.caPem).raw.equals(caCert.raw)) return 'it embeds another CA';
  } catch {
    return 'unreadable';
  }
  if (content.server !== API_SERVER_URL) return 'the server changed';
  return leafProblem(
    cert,
    content.keyPem,
    caCert,
    { ...clientIdentity(name, hostname), sans: [] },
    ctx.now(),
  );
}

async function ensureKubeconfig(
  ctx: Context,
  ca: CaFiles,
  hostname: string,
  name: KubeconfigName,
): Promise<void> {
  const path = ctx.layout.kubeconfigs[name];
  const caPem = await readFile(ca.certPath, 'utf8');
  const present = await exists(path);
  const problem = present
    ? await kubeconfigProblem(ctx, path, new X509Certificate(caPem), hostname, name)
    : undefined;
  const result = verdict(ctx, problem, present);
  if (result.action !== 'kept') {
    const identity = clientIdentity(name, hostname);
    // The client pair is issued in a scratch folder and lives on only inside the kubeconfig.
    await withScratch(ctx.layout.kubeconfigDir, async (scratch) => {
      const issued = await issueCertificate(ca, scratch, 'client', { ...identity, usage: 'client' });
      const [certPem, keyPem] = await Promise.all([
        readFile(issued.certPath, 'utf8'),
        readFile(issued.keyPath, 'utf8'),
      ]);
      const text = renderKubeconfig({ server: API_SERVER_URL, user: name, caPem, certPem, keyPem });
      await writeFileAtomic(path, text, { mode: PRIVATE_MODE });
    });
  }
  record(ctx, `kubeconfig/${name}`, result);
}

async function peerNodeId(layout: CertsLayout, given: number | undefined): Promise<number> {
  if (given !== undefined) return given;
  return nodeIdFromCertificate(await readX509(layout.leaves.peer.certPath)) ?? 1;
}

export async function ensureNodeCertificates(
  dir: string,
  options: NodeCertificateOptions,
): Promise<NodeCertificates> {
  // Inputs are checked before anything is written.
  const hostname = nodeHostname(options.hostname);
  const ips = nodeIps(options.ips);
  const layout = certsLayout(dir);
  const ctx: Context = {
    layout,
    reissue: options.reissue ?? false,
    now: options.now ?? Date.now,
    actions: [],
  };
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  await mkdir(layout.kubeconfigDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  // A certificate and its key are renamed into place one after the other: two writers (the
  // address watcher and refresh-certs) interleaving could pair one's key with the other's cert.
  await withFileLock(pkiLockFile(dir), async () => {
    const ca = await ensureCa(ctx, 'ca', 'microk8s-cluster-ca');
    const frontProxyCa = await ensureCa(ctx, 'front-proxy-ca', 'microk8s-front-proxy-ca');
    const serviceAccount = await ensureServiceAccountKeys(layout.serviceAccount);
    record(ctx, 'serviceaccount', { action: serviceAccount });
    await ensureLeaf(ctx, ca, 'server', {
      commonName: 'kube-apiserver',
      ...apiServerNames(hostname, ips),
      usage: 'server',
    });
    await ensureLeaf(ctx, frontProxyCa, 'front-proxy-client', {
      commonName: 'front-proxy-client',
      usage: 'client',
    });
    const nodeId = await peerNodeId(layout, options.nodeId);
    const peerIps = nodeIps([...ips, LOOPBACK_IP]);
    await ensureLeaf(ctx, ca, 'peer', { ...peerCertificateNames(nodeId), ips: peerIps, usage: 'peer' });
    // The API server's identity towards kubelets (logs, exec, port-forward).
    await ensureLeaf(ctx, ca, 'apiserver-kubelet-client', {
      commonName: 'kube-apiserver-kubelet-client',
      organization: 'system:masters',
      usage: 'client',
    });
    // The identity the datastore's TLS port admits besides its members (operators' etcdctl, an
    // API server on another machine); a worker can never be issued this subject.
    await ensureLeaf(ctx, ca, 'datastore-client', {
      commonName: 'datastore-admin',
      organization: DATASTORE_CLIENT_ORGANIZATION,
      usage: 'client',
    });
    for (const name of KUBECONFIG_NAMES) await ensureKubeconfig(ctx, ca, hostname, name);
  });
  return { layout, actions: ctx.actions };
}
