/**
 * `microk8s join`, the joining node's side. Order matters:
 *  1. everything that can be checked locally is, before the agent is contacted (the string,
 *     the hash, this node not already a member of a cluster, its datastore not running);
 *  2. one request to the agent, pinned by the certificate hash; the agent checks the rest
 *     before it consumes the token;
 *  3. the answer is written: the old certificates and datastore are kept as backups, the
 *     cluster's CA and keys go in, the node's other certificates are re-issued under it, and
 *     the datastore args name the members (no --bootstrap);
 *  4. with `start`, the datastore is started and the join is done when it is a member.
 * A worker gets signed certificates and no datastore: its kubeconfigs name the local API-server
 * proxy, whose args file (the control-plane nodes, port 16443) the join writes; with `start`
 * the proxy is started and the join is done when it listens.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { dirname, join } from 'node:path';
import { readDatastoreArgs } from '../../datastore/node/config.js';
import { MicroK8sError } from '../../lib/errors.js';
import { utcStamp } from '../../lib/process.js';
import { versionInfo } from '../../lib/version.js';
import { writeArgsFile } from '../../node/args-file.js';
import { pruneBackups } from '../../node/backups.js';
import { writeNodeRecord } from '../../node/record.js';
import { daemonCommand, spawnDaemon } from '../../services/spawn.js';
import { DEFAULT_PROXY_LISTEN, parseEndpoint, renderProxyArgs } from '../apiserver-proxy/config.js';
import { type Endpoint, endpointKey } from '../apiserver-proxy/upstreams.js';
import { PRIVATE_DIR_MODE, PRIVATE_MODE, PUBLIC_MODE } from '../files.js';
import { CERT_HASH_PRINTED_HEX } from '../join/cert-hash.js';
import { parseJoinString } from '../join/join-string.js';
import { API_SERVER_URL, renderKubeconfig } from '../pki/kubeconfig.js';
import { certsLayout } from '../pki/layout.js';
import { ensureNodeCertificates } from '../pki/node-set.js';
import { createWorkerRequest } from './certs.js';
import { AgentClient } from './client.js';
import { type AgentContext, datastoreDataDir, readAgentBind } from './context.js';
import { existingPorts, renderDatastoreArgs } from './datastore-args.js';
import { AGENT_LIMITS } from './limits.js';
import { localStatusIfRunning } from './local-datastore.js';
import { nodeAddresses } from './node-addresses.js';
import { waitForMembership, waitForProxy } from './processes.js';
import {
  API_PREFIX,
  type ControlPlaneJoinResponse,
  type JoinRequest,
  type JoinResponse,
  WORKER_CERT_NAMES,
  type WorkerCertName,
  type WorkerJoinResponse,
} from './protocol.js';
import { type AgentEndpoint, recordAgentEndpoint } from './renew.js';

export interface JoinOptions {
  readonly joinString: string;
  readonly worker: boolean;
  /** Refused: it would send the token to whoever answers (kept so the refusal can say so). */
  readonly skipVerify: boolean;
  /** Accept a certificate hash shorter than CERT_HASH_PRINTED_HEX (with a warning). */
  readonly allowShortPin?: boolean;
  /** The address other members reach this node at (default: the agent's --bind, else the route to the agent). */
  readonly address?: string;
  readonly hostname?: string;
  /** Start the datastore and wait until it is a member (no service manager to do it). */
  readonly start: boolean;
  readonly timeoutMs?: number;
  /**
   * Worker: HOST:PORT the API-server proxy listens on and the kubeconfigs name (default
   * 127.0.0.1:16443). Several nodes on one machine (tests) each need their own.
   */
  readonly proxyListen?: string;
  readonly onProgress?: (line: string) => void;
}

export interface WorkerProxy {
  readonly argsFile: string;
  readonly listen: string;
  /** With start: the proxy's pid; without: what to run to start it. */
  readonly pid?: number;
  readonly startCommand?: string[];
}

export interface JoinResult {
  readonly kind: 'control-plane' | 'worker';
  readonly clusterId: string;
  readonly nodeId?: number;
  readonly address: string;
  readonly certsBackup?: string;
  readonly datastoreBackup?: string;
  readonly datastoreArgs?: string;
  /** With start: the datastore's pid and its role when the join finished. */
  readonly started?: { pid: number; role: string; leader: number; members: number };
  /** Without start: what to run to start the datastore. */
  readonly startCommand?: string[];
  readonly controlPlane?: readonly string[];
  readonly proxy?: WorkerProxy;
}

function joinedBefore(ctx: AgentContext): boolean {
  if (!existsSync(ctx.datastoreArgs)) return false;
  try {
    return (readDatastoreArgs(ctx.datastoreArgs).get('peer') ?? []).length > 0;
  } catch {
    return false;
  }
}

/** The local address the kernel picks to reach the agent: what MicroK8s advertises by default. */
async function routeAddress(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, timeout: AGENT_LIMITS.connectTimeoutMs });
    const fail = (why: string, cause?: unknown) => {
      socket.destroy();
      reject(
        new MicroK8sError(
          'MK_AGENT_UNREACHABLE',
          `cannot reach the cluster agent at ${host}:${port} (${why})`,
          {},
          { cause },
        ),
      );
    };
    socket.once('timeout', () => fail('no answer in time'));
    socket.once('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message, error));
    socket.once('connect', () => {
      const local = socket.localAddress;
      socket.destroy();
      if (local) resolve(local);
      else fail('no local address');
    });
  });
}

async function ownAddress(
  ctx: AgentContext,
  options: JoinOptions,
  host: string,
  port: number,
): Promise<string> {
  if (options.address !== undefined) return options.address;
  const bind = readAgentBind(ctx).host;
  if (bind !== '0.0.0.0' && bind !== '::') return bind;
  return routeAddress(host, port);
}

/** Move `path` aside as `<name>-before-join-<UTC>` when it holds anything; returns the backup. */
async function backup(path: string): Promise<string | undefined> {
  if (!existsSync(path) || readdirSync(path).length === 0) return undefined;
  const target = join(dirname(path), `${path.split('/').pop()}-before-join-${utcStamp()}`);
  await rename(path, target);
  // The old certificates and keys are secrets: keep only the newest few such backups.
  pruneBackups(dirname(path), `${path.split('/').pop()}-before-join-`);
  return target;
}

export async function runJoin(ctx: AgentContext, options: JoinOptions): Promise<JoinResult> {
  const progress = options.onProgress ?? (() => {});
  const parsed = parseJoinString(options.joinString);
  if (options.skipVerify) {
    throw new MicroK8sError(
      'MK_JOIN_NO_CERT_HASH',
      '--skip-verify is refused: the token would go to whoever answers at that address',
    );
  }
  if (parsed.certHash === undefined) {
    throw new MicroK8sError(
      'MK_JOIN_NO_CERT_HASH',
      'the join string has no certificate hash to verify the agent with',
    );
  }
  if (parsed.certHash.length < CERT_HASH_PRINTED_HEX) {
    if (!options.allowShortPin) {
      throw new MicroK8sError(
        'MK_JOIN_SHORT_PIN',
        `the certificate hash has ${parsed.certHash.length} hex digits; at least ${CERT_HASH_PRINTED_HEX} are needed to pin the agent (add-node prints ${CERT_HASH_PRINTED_HEX})`,
      );
    }
    progress(
      `WARNING: a ${parsed.certHash.length}-digit certificate hash (${parsed.certHash.length * 4} bits) is a weak pin: an attacker on the network may forge a matching certificate and take the token`,
    );
  }
  const dataDir = datastoreDataDir(ctx);
  const local = await localStatusIfRunning(dataDir);
  // A joined node's own view may list only itself (see the datastore report), so its --peer
  // flags count too: only a joined node has them.
  if (local && (local.members.length > 1 || joinedBefore(ctx))) {
    throw new MicroK8sError(
      'MK_JOIN_ALREADY_MEMBER',
      `this node is already one of ${local.members.length} members of a cluster`,
    );
  }
  if (local) {
    throw new MicroK8sError(
      'MK_JOIN_LOCAL_RUNNING',
      `this node's datastore is running (${dataDir}) and the join would replace it`,
    );
  }
  const proxyListen = options.worker
    ? options.proxyListen === undefined
      ? DEFAULT_PROXY_LISTEN
      : parseEndpoint('proxy-listen', options.proxyListen, true)
    : undefined;
  const address = await ownAddress(ctx, options, parsed.host, parsed.port);
  const hostname = options.hostname ?? osHostname();
  const ips = nodeAddresses(address);
  const ports = existingPorts(ctx.datastoreArgs);
  const workerKeys: Partial<Record<WorkerCertName, string>> = {};
  const csrs: Partial<Record<WorkerCertName, string>> = {};
  if (options.worker) {
    await mkdir(ctx.paths.data, { recursive: true, mode: PRIVATE_DIR_MODE });
    for (const name of WORKER_CERT_NAMES) {
      const request = await createWorkerRequest(ctx.paths.data, name, hostname.toLowerCase());
      workerKeys[name] = request.key;
      csrs[name] = request.csr;
    }
  }
  const request: JoinRequest = {
    token: parsed.token,
    hostname,
    address,
    ips,
    worker: options.worker,
    version: versionInfo().version,
    peerPort: ports.peerPort,
    clientPort: ports.clientPort,
    ...(options.worker ? { csrs } : {}),
  };
  progress(`contacting the cluster agent at ${parsed.host}:${parsed.port}`);
  const client = new AgentClient({
    host: parsed.host,
    port: parsed.port,
    certHash: parsed.certHash,
    skipVerify: false,
    localAddress: address,
  });
  let response: JoinResponse;
  try {
    response = await client.request<JoinResponse>('POST', `${API_PREFIX}/join`, request);
  } finally {
    await client.close();
  }
  checkSignedByCa(client.presentedCert, response.kind === 'worker' ? response.caCert : response.ca.cert);
  if (response.kind === 'worker') {
    const worker = {
      keys: workerKeys,
      address,
      listen: proxyListen ?? DEFAULT_PROXY_LISTEN,
      agent: { host: parsed.host, port: parsed.port },
    };
    return writeWorker(ctx, response, worker, options, progress);
  }
  progress(`accepted as node ${response.nodeId} of ${response.clusterId}; writing certificates`);
  return writeControlPlane(ctx, response, { hostname, address, ips, ports, dataDir, options, progress });
}

/** The agent we pinned must belong to the cluster whose CA it sends: a consistency check. */
function checkSignedByCa(presented: string | undefined, caPem: string): void {
  let ok = false;
  try {
    ok =
      presented !== undefined && new X509Certificate(presented).verify(new X509Certificate(caPem).publicKey);
  } catch {
    ok = false;
  }
  if (!ok)
    throw new MicroK8sError('MK_AGENT_PROTOCOL', "the agent's certificate is not signed by the CA it sent");
}

async function stageCerts(
  ctx: AgentContext,
  write: (dir: string) => Promise<void>,
): Promise<string | undefined> {
  const stage = `${ctx.certs.dir}.joining-${process.pid}`;
  await rm(stage, { recursive: true, force: true });
  await mkdir(stage, { recursive: true, mode: PRIVATE_DIR_MODE });
  await write(stage);
  const old = await backup(ctx.certs.dir);
  await rm(ctx.certs.dir, { recursive: true, force: true });
  await rename(stage, ctx.certs.dir);
  return old;
}

interface WriteContext {
  hostname: string;
  address: string;
  ips: string[];
  ports: { peerPort: number; clientPort: number };
  dataDir: string;
  options: JoinOptions;
  progress: (line: string) => void;
}

async function writeControlPlane(
  ctx: AgentContext,
  r: ControlPlaneJoinResponse,
  w: WriteContext,
): Promise<JoinResult> {
  const certsBackup = await stageCerts(ctx, async (dir) => {
    const l = certsLayout(dir);
    await writeFile(l.ca.certPath, r.ca.cert, { mode: PUBLIC_MODE });
    await writeFile(l.ca.keyPath, r.ca.key, { mode: PRIVATE_MODE });
    if (r.frontProxyCa) {
      await writeFile(l.frontProxyCa.certPath, r.frontProxyCa.cert, { mode: PUBLIC_MODE });
      await writeFile(l.frontProxyCa.keyPath, r.frontProxyCa.key, { mode: PRIVATE_MODE });
    }
    if (r.serviceAccount) {
      await writeFile(l.serviceAccount.keyPath, r.serviceAccount.key, { mode: PRIVATE_MODE });
      await writeFile(l.serviceAccount.publicKeyPath, r.serviceAccount.pub, { mode: PUBLIC_MODE });
    }
    await writeFile(l.leaves.peer.certPath, r.peer.cert, { mode: PUBLIC_MODE });
    await writeFile(l.leaves.peer.keyPath, r.peer.key, { mode: PRIVATE_MODE });
  });
  // Everything else (API server, front-proxy client, kubeconfigs) is issued under the cluster CA.
  await ensureNodeCertificates(ctx.certs.dir, { hostname: w.hostname, ips: w.ips, nodeId: r.nodeId });
  const datastoreBackup = await backup(w.dataDir);
  await mkdir(w.dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  await mkdir(ctx.paths.args, { recursive: true, mode: PRIVATE_DIR_MODE });
  const args = renderDatastoreArgs({
    id: r.nodeId,
    clusterId: r.clusterId,
    dataDir: w.dataDir,
    address: w.address,
    ...w.ports,
    certs: ctx.certs,
    peers: r.members,
    ...(r.bootstrap ? { startFrom: r.bootstrap } : {}),
  });
  await writeArgsFile(ctx.datastoreArgs, args, PUBLIC_MODE);
  await writeNodeRecord(ctx.paths, {
    kind: 'control-plane',
    clusterId: r.clusterId,
    memberId: r.nodeId,
    address: w.address,
    joinedAt: new Date().toISOString(),
  });
  const runArgs = ['datastore', 'run', '--args-file', ctx.datastoreArgs];
  const base = {
    kind: 'control-plane' as const,
    clusterId: r.clusterId,
    nodeId: r.nodeId,
    address: w.address,
    ...(certsBackup ? { certsBackup } : {}),
    ...(datastoreBackup ? { datastoreBackup } : {}),
    datastoreArgs: ctx.datastoreArgs,
  };
  if (!w.options.start) return { ...base, startCommand: daemonCommand(runArgs) };
  const pid = spawnDaemon(ctx.paths, 'datastore', runArgs);
  w.progress(`started the datastore (pid ${pid}); waiting until it is a member`);
  const state = await waitForMembership(w.dataDir, r.nodeId, pid, w.options.timeoutMs, w.progress);
  return { ...base, started: { pid, ...state } };
}

interface WorkerWrite {
  readonly keys: Partial<Record<WorkerCertName, string>>;
  readonly address: string;
  readonly listen: Endpoint;
  /** The agent it joined through: where it renews its certificates (renew.ts). */
  readonly agent: AgentEndpoint;
}

async function writeWorker(
  ctx: AgentContext,
  r: WorkerJoinResponse,
  w: WorkerWrite,
  options: JoinOptions,
  progress: (line: string) => void,
): Promise<JoinResult> {
  const { keys, address } = w;
  const isDefault = endpointKey(w.listen) === endpointKey(DEFAULT_PROXY_LISTEN);
  const server = isDefault ? API_SERVER_URL : `https://${endpointKey(w.listen)}`;
  const certsBackup = await stageCerts(ctx, async (dir) => {
    const l = certsLayout(dir);
    await writeFile(l.ca.certPath, r.caCert, { mode: PUBLIC_MODE });
    await mkdir(l.kubeconfigDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    for (const name of WORKER_CERT_NAMES) {
      const certPem = r.certs[name];
      const keyPem = keys[name];
      if (certPem === undefined || keyPem === undefined) {
        throw new MicroK8sError('MK_AGENT_PROTOCOL', `the agent did not sign the ${name} certificate`);
      }
      const text = renderKubeconfig({ server, user: name, caPem: r.caCert, certPem, keyPem });
      await writeFile(l.kubeconfigs[name], text, { mode: PRIVATE_MODE });
    }
  });
  await mkdir(ctx.credentials, { recursive: true, mode: PRIVATE_DIR_MODE });
  await recordAgentEndpoint(ctx, w.agent);
  // A worker runs no datastore: its old single-node configuration would start a cluster of its
  // own with certificates that just moved aside, so it goes aside too.
  if (existsSync(ctx.datastoreArgs)) {
    await rename(ctx.datastoreArgs, `${ctx.datastoreArgs}-before-join-${utcStamp()}`);
  }
  await writeNodeRecord(ctx.paths, {
    kind: 'worker',
    clusterId: r.clusterId,
    memberId: null,
    address,
    joinedAt: new Date().toISOString(),
  });
  const proxy = await writeWorkerProxy(ctx, r.controlPlane, w, options, progress);
  return {
    kind: 'worker',
    clusterId: r.clusterId,
    address,
    ...(certsBackup ? { certsBackup } : {}),
    controlPlane: r.controlPlane,
    proxy,
  };
}

/** The proxy's args file, and with start the proxy itself, up to the moment it listens. */
async function writeWorkerProxy(
  ctx: AgentContext,
  controlPlane: readonly string[],
  w: WorkerWrite,
  options: JoinOptions,
  progress: (line: string) => void,
): Promise<WorkerProxy> {
  const argsFile = join(ctx.paths.args, 'apiserver-proxy');
  await mkdir(ctx.paths.args, { recursive: true, mode: PRIVATE_DIR_MODE });
  const text = renderProxyArgs({ listen: w.listen, controlPlane, localAddress: w.address });
  await writeArgsFile(argsFile, text, PUBLIC_MODE);
  const runArgs = ['apiserver-proxy', 'run', '--args-file', argsFile];
  const listen = endpointKey(w.listen);
  if (!options.start) return { argsFile, listen, startCommand: daemonCommand(runArgs) };
  const pid = spawnDaemon(ctx.paths, 'apiserver-proxy', runArgs);
  progress(`started the API-server proxy (pid ${pid}); waiting until it listens on ${listen}`);
  await waitForProxy(ctx.paths, pid, options.timeoutMs);
  return { argsFile, listen, pid };
}
