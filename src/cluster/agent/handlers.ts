/**
 * What the cluster agent does for each request. The join handler checks everything that can
 * fail (token, hostname, address, version skew, a leader, the address not taken, the
 * certificates issued) BEFORE it consumes the token, so a join refused for any other reason
 * leaves the token usable; recording the member comes last.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DaemonConfig } from '../../datastore/node/config.js';
import { parseFailureDomain, readDatastoreArgs } from '../../datastore/node/config.js';
import { MicroK8sError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { checkArgsEdit, readArgsFile } from '../../node/args-file.js';
import { serviceArgsFile, serviceSpec } from '../../services/catalog.js';
import {
  type ClusterArgs,
  isFollowedService,
  readClusterArgs,
  recordClusterChange,
  restoreClusterArgs,
  WORKER_FOLLOWED,
} from '../cluster-args.js';
import { exists } from '../files.js';
import { JoinTokenStore, type TokenRole } from '../join/token-store.js';
import { parseKubeconfig } from '../pki/kubeconfig.js';
import { clientIdentity, nodeHostname } from '../pki/names.js';
import type { CaFiles } from '../pki.js';
import type { RemoveResult } from '../remove-node.js';
import { checkNotRevoked, recordCertificate } from '../workers/certificates.js';
import { claimNodeName, nameClaim, releaseNodeName } from '../workers/names.js';
import { findWorker, forgetWorker, recordWorker } from '../workers/registry.js';
import { issuePeerPair, signWorkerCsr } from './certs.js';
import { configureNodes, readServiceArgsAt } from './configure.js';
import { type AgentContext, readDatastoreConfig } from './context.js';
import { etcdSocketPath } from './datastore-args.js';
import { AGENT_LIMITS } from './limits.js';
import { localStatus, type MemberAddress, memberAddresses, recordMember } from './local-datastore.js';
import { highestMemberId, recordMemberId } from './member-ids.js';
import {
  type ConfigureRequest,
  type ConfigureResponse,
  type ControlPlaneJoinResponse,
  checkVersionSkew,
  type JoinRequest,
  type PemPair,
  type RemoveRequest,
  type ServiceArgsNode,
  type ServiceArgsRequest,
  type ServiceArgsResponse,
  type SignCsrRequest,
  WORKER_CERT_NAMES,
  type WorkerCertName,
  type WorkerJoinResponse,
} from './protocol.js';

const log = createLogger('cluster.agent');

export class AgentHandlers {
  readonly tokens: JoinTokenStore;
  /** Ids handed out whose node is not in the Raft group yet: never handed out twice. */
  private readonly pending = new Map<number, number>();
  /** Joins run one at a time, so two never pick the same id or address. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Cluster-wide configure requests too, so two rolls started here never overlap. */
  private configuring: Promise<unknown> = Promise.resolve();

  constructor(
    readonly ctx: AgentContext,
    readonly version: string,
  ) {
    this.tokens = new JoinTokenStore(ctx.credentials);
  }

  /**
   * Claim this control-plane node's own name (its kubelet certificate's) in the cluster, so no
   * worker can take it: the first node was never admitted by an agent. Retried while the local
   * datastore is not serving yet; bounded, and a failure is only logged.
   */
  async claimOwnName(): Promise<void> {
    for (let attempt = 1; attempt <= AGENT_LIMITS.nameClaimAttempts; attempt++) {
      try {
        const path = this.ctx.certs.kubeconfigs.kubelet;
        const kubeconfig = parseKubeconfig(await readFile(path, 'utf8'), path);
        const cn = /^CN=system:node:(.*)$/m.exec(new X509Certificate(kubeconfig.certPem).subject)?.[1];
        if (cn === undefined) return;
        const config = readDatastoreConfig(this.ctx);
        await claimNodeName(
          this.etcdSocket(config),
          cn,
          { kind: 'control-plane', address: config.peerListen.host, memberId: config.id },
          { replace: true },
        );
        return;
      } catch (error) {
        if (attempt === AGENT_LIMITS.nameClaimAttempts) log.warn('could not claim this node name', { error });
        else await sleep(AGENT_LIMITS.nameClaimRetryMs, undefined, { ref: false });
      }
    }
  }

  health(): { status: 'ok'; version: string } {
    return { status: 'ok', version: this.version };
  }

  async join(req: JoinRequest): Promise<ControlPlaneJoinResponse | WorkerJoinResponse> {
    const run = this.queue.then(
      (): Promise<ControlPlaneJoinResponse | WorkerJoinResponse> =>
        req.worker ? this.joinWorker(req) : this.joinControlPlane(req),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * A worker renews its kubelet and kube-proxy certificates before they expire: it proves who it
   * is with its current kubelet certificate (mutual TLS, the cluster CA), which must not be
   * revoked and must name a worker the cluster still has; the new certificates are for that name
   * only.
   */
  async signCsr(
    req: SignCsrRequest,
    caller: X509Certificate | undefined,
  ): Promise<{ certs: Partial<Record<WorkerCertName, string>> }> {
    const socket = this.etcdSocket(readDatastoreConfig(this.ctx));
    const hostname = await this.workerCaller(caller, socket, "renewing a worker's certificates");
    const certs = await this.signAll(hostname, req.csrs, socket);
    log.info('renewed the certificates of a worker', { hostname, names: Object.keys(certs) });
    return { certs };
  }

  /** The worker a request comes from: its current kubelet certificate, not revoked, still a worker. */
  private async workerCaller(
    caller: X509Certificate | undefined,
    socket: string,
    what: string,
  ): Promise<string> {
    const prefix = clientIdentity('kubelet', '').commonName;
    const cn = /^CN=(.*)$/m.exec(caller?.subject ?? '')?.[1];
    if (caller === undefined || cn === undefined || !cn.startsWith(prefix)) {
      throw new MicroK8sError(
        'MK_AGENT_UNAUTHORIZED',
        `${what} needs a worker's current kubelet certificate (mutual TLS)`,
      );
    }
    const hostname = checkHostname(cn.slice(prefix.length));
    await checkNotRevoked(socket, caller);
    if ((await findWorker(socket, hostname)) === undefined) {
      throw new MicroK8sError('MK_CERT_REVOKED', `${hostname} is not a worker of this cluster any more`);
    }
    return hostname;
  }

  /**
   * A member asks for another member's removal (a node leaving through a peer, an operator's
   * tool): only a caller with a member's certificate may (mutual TLS, verified against the
   * cluster CA), never with a join token. The datastore does the removal (see remove-node).
   */
  async remove(req: RemoveRequest, caller: number | undefined): Promise<RemoveResult> {
    const config = await this.requireMember(caller, 'removing a member');
    const { removeNode } = await import('../remove-node.js');
    return removeNode({
      paths: this.ctx.paths,
      datastoreDir: config.dataDir,
      node: req.node,
      force: req.force,
    });
  }

  /**
   * Change a service's args here, or on every control-plane node (`propagate`), and restart it:
   * for a member only, like remove. Everything checkable is checked before any node changes.
   */
  async configure(req: ConfigureRequest, caller: number | undefined): Promise<ConfigureResponse> {
    // This node's own certificate, for a change to this node only, needs no answer from the
    // datastore: that is how a flag the datastore cannot start with is taken back.
    const own = req.propagate ? undefined : this.ownTarget(caller);
    if (own) {
      serviceSpec(req.service);
      checkArgsEdit(req);
      return configureNodes(this.ctx, req, own, []);
    }
    const config = await this.requireMember(caller, 'configuring a service');
    serviceSpec(req.service);
    checkArgsEdit(req);
    const self = { id: config.id, host: config.peerListen.host };
    if (!req.propagate) return configureNodes(this.ctx, req, self, []);
    // Rolls started here run one after the other. A request passed on by another node's roll is
    // not queued: two rolls started on two nodes would otherwise wait for each other.
    const run = this.configuring.then(() => this.recordedRoll(config, req, self));
    this.configuring = run.catch(() => undefined);
    return run;
  }

  /**
   * A roll over the whole control plane. A change of a service workers run too is recorded in
   * the keyspace first (../cluster-args.ts: workers and later joiners follow it, and each node's
   * restart applies it, so it must already say the new thing), and put back if the roll fails.
   */
  private async recordedRoll(
    config: DaemonConfig,
    req: ConfigureRequest,
    self: { id: number; host: string },
  ): Promise<ConfigureResponse> {
    const others = await this.otherMembers(config);
    if (!isFollowedService(req.service)) return configureNodes(this.ctx, req, self, others);
    const socket = this.etcdSocket(config);
    const { before } = await recordClusterChange(socket, req.service, req);
    const answer = await configureNodes(this.ctx, req, self, others);
    if (answer.results.some((r) => !r.ok)) {
      await restoreClusterArgs(socket, req.service, before);
      return answer;
    }
    log.info('recorded a cluster-wide change for the workers', { service: req.service });
    return { ...answer, recorded: true };
  }

  private async otherMembers(config: DaemonConfig): Promise<{ id: number; host: string }[]> {
    return (await this.members(config))
      .filter((m) => m.id !== config.id && hostOf(m.peerAddress) !== '')
      .map((m) => ({ id: m.id, host: hostOf(m.peerAddress) }));
  }

  /**
   * The cluster-wide args workers follow: for a worker (its kubelet certificate, not revoked, a
   * worker the cluster still has) or a member.
   */
  async clusterArgs(
    caller: X509Certificate | undefined,
    member: number | undefined,
  ): Promise<{ args: ClusterArgs }> {
    const config = readDatastoreConfig(this.ctx);
    const socket = this.etcdSocket(config);
    if (member !== undefined && (await localStatus(config.dataDir)).members.some((m) => m.id === member))
      return { args: await readClusterArgs(socket) };
    await this.workerCaller(caller, socket, 'reading the cluster args');
    return { args: await readClusterArgs(socket, WORKER_FOLLOWED) };
  }

  /**
   * A service's args as each control-plane node's args file has them (`all`), or this node's:
   * what an addon's status reads (the API server's --authorization-mode). For a member only.
   */
  async serviceArgs(req: ServiceArgsRequest, caller: number | undefined): Promise<ServiceArgsResponse> {
    const config = await this.requireMember(caller, 'reading service args');
    const service = serviceSpec(req.service).name;
    const here: ServiceArgsNode = {
      node: `node${config.id}`,
      address: config.peerListen.host,
      flags: Object.fromEntries(readArgsFile(serviceArgsFile(this.ctx.paths, service), { missingOk: true })),
    };
    if (!req.all) return { service, nodes: [here] };
    const nodes = [here];
    for (const member of await this.otherMembers(config)) {
      const answer = await readServiceArgsAt(
        this.ctx,
        member.host,
        { service, all: false },
        config.peerListen.host,
      );
      nodes.push(...answer.nodes.map((n) => ({ ...n, node: `node${member.id}`, address: member.host })));
    }
    return { service, nodes };
  }

  /**
   * This node as a configure target when the caller holds this node's own certificate (verified
   * against the cluster CA), read loosely from the args file: it may be the file being repaired.
   */
  private ownTarget(caller: number | undefined): { id: number; host: string } | undefined {
    if (caller === undefined) return undefined;
    try {
      const flags = readDatastoreArgs(this.ctx.datastoreArgs);
      const id = Number(flags.get('id')?.[0]);
      const listen = flags.get('peer-listen')?.[0];
      if (id !== caller || listen === undefined) return undefined;
      return { id, host: hostOf(listen) };
    } catch {
      return undefined;
    }
  }

  /** The caller presented a member's certificate (verified against the cluster CA) and is a member. */
  private async requireMember(caller: number | undefined, what: string) {
    const config = readDatastoreConfig(this.ctx);
    const status = await localStatus(config.dataDir);
    if (caller === undefined || !status.members.some((m) => m.id === caller)) {
      throw new MicroK8sError(
        'MK_AGENT_UNAUTHORIZED',
        `${what} needs the certificate of a cluster member (mutual TLS); nothing was changed`,
      );
    }
    return config;
  }

  private async checkToken(token: string): Promise<TokenRole> {
    const result = await this.tokens.check(token);
    if (!result.ok) throw new MicroK8sError(result.code, result.message);
    return result.role;
  }

  private async common(req: JoinRequest): Promise<{ hostname: string; role: TokenRole }> {
    const role = await this.checkToken(req.token);
    const hostname = checkHostname(req.hostname);
    checkAddress(req.address);
    checkVersionSkew(this.version, req.version);
    return { hostname, role };
  }

  private etcdSocket(config: DaemonConfig): string {
    return config.clientUnix ?? etcdSocketPath(config.dataDir);
  }

  private caFiles(): CaFiles {
    return this.ctx.certs.ca;
  }

  /** Sign each request; every certificate is recorded (certificates.ts) before it is handed out. */
  private async signAll(
    hostname: string,
    csrs: Readonly<Partial<Record<WorkerCertName, string>>>,
    etcdSocket: string,
  ): Promise<Partial<Record<WorkerCertName, string>>> {
    const out: Partial<Record<WorkerCertName, string>> = {};
    for (const name of WORKER_CERT_NAMES) {
      const csr = csrs[name];
      if (csr === undefined) continue;
      const pem = await signWorkerCsr(this.caFiles(), this.ctx.certs.dir, name, hostname, csr);
      await recordCertificate(etcdSocket, pem, hostname, 'worker');
      out[name] = pem;
    }
    return out;
  }

  /** A worker may not take a name the cluster already gave a node (its kubelet identity). */
  private async checkNameFree(etcdSocket: string, hostname: string): Promise<void> {
    const claim = await nameClaim(etcdSocket, hostname);
    const worker = claim ? undefined : await findWorker(etcdSocket, hostname);
    if (claim || worker) {
      throw new MicroK8sError(
        'MK_JOIN_NAME_TAKEN',
        `the name ${hostname} belongs to ${claim?.kind === 'control-plane' ? 'a control-plane node' : 'a worker'} of this cluster (${claim?.address ?? worker?.address}); a worker cannot take it`,
      );
    }
  }

  private async joinWorker(req: JoinRequest): Promise<WorkerJoinResponse> {
    const { hostname } = await this.common(req);
    const config = readDatastoreConfig(this.ctx);
    const etcdSocket = this.etcdSocket(config);
    await this.checkNameFree(etcdSocket, hostname);
    const members = await this.members(config);
    const certs = await this.signAll(hostname, req.csrs ?? {}, etcdSocket);
    // Recorded before the token is consumed: a record that cannot be written fails the join
    // with the token still usable. Every control-plane node can then list it and remove-node it.
    // The name claim is the atomic step: of two joiners racing for one name, one wins.
    await claimNodeName(etcdSocket, hostname, { kind: 'worker', address: req.address }, { replace: false });
    try {
      await recordWorker(etcdSocket, {
        hostname,
        address: req.address,
        joinedAt: new Date().toISOString(),
      });
      await this.tokens.consume(req.token);
    } catch (error) {
      // The join failed after all (the token was used meanwhile): forget what it left.
      await forgetWorker(etcdSocket, hostname).catch(() => undefined);
      await releaseNodeName(etcdSocket, hostname).catch(() => undefined);
      throw error;
    }
    log.info('a worker joined', { hostname, address: req.address });
    return {
      kind: 'worker',
      clusterId: config.clusterId,
      caCert: await readFile(this.ctx.certs.ca.certPath, 'utf8'),
      certs,
      controlPlane: members.map((m) => hostOf(m.peerAddress)).filter((h) => h !== ''),
    };
  }

  private async joinControlPlane(req: JoinRequest): Promise<ControlPlaneJoinResponse> {
    const { hostname, role } = await this.common(req);
    if (role !== 'control-plane') {
      // Refused before anything else is read: a worker token never reaches the cluster's keys.
      throw new MicroK8sError(
        'MK_JOIN_TOKEN_ROLE',
        'this token admits a worker only (add-node --worker); a control-plane join needs a control-plane token',
      );
    }
    const failureDomain = parseDomain(req.failureDomain);
    const config = readDatastoreConfig(this.ctx);
    const status = await localStatus(config.dataDir);
    if (status.leader === 0) {
      throw new MicroK8sError(
        'MK_NO_LEADER',
        'the cluster has no leader right now; retry the join in a moment',
      );
    }
    const members = await this.members(config);
    const taken = members.find((m) => hostOf(m.peerAddress) === canonical(req.address));
    if (taken) {
      throw new MicroK8sError(
        'MK_JOIN_ADDRESS_IN_USE',
        `member ${taken.id} of the cluster already uses the address ${req.address} (${taken.peerAddress})`,
      );
    }
    this.forgetJoined(status.members.map((m) => m.id));
    const etcdSocket = this.etcdSocket(config);
    // Ids are never reused: the cluster records the highest it ever issued (member-ids.ts).
    let nodeId =
      Math.max(
        config.id,
        await highestMemberId(etcdSocket),
        ...status.members.map((m) => m.id),
        ...members.map((m) => m.id),
        ...this.pending.keys(),
      ) + 1;
    const ips = [req.address, ...req.ips];
    let peer = await issuePeerPair(this.caFiles(), this.ctx.certs.dir, nodeId, ips);
    const secrets = await this.clusterSecrets();
    // Everything that can be refused has been checked: from here on the join proceeds.
    await this.tokens.consume(req.token);
    const peerPort = req.peerPort ?? AGENT_LIMITS.defaultPeerPort;
    const clientPort = req.clientPort ?? AGENT_LIMITS.defaultClientPort;
    const host = isIP(req.address) === 6 ? `[${req.address}]` : req.address;
    // Another agent may hand out the same id at the same moment: the datastore's log decides
    // (memberAdd refuses a recorded id), and the loser takes the next id, bounded.
    for (let attempt = 1; ; attempt++) {
      try {
        await recordMember(config.dataDir, {
          id: nodeId,
          peerAddress: `${host}:${peerPort}`,
          clientUrl: `https://${host}:${clientPort}`,
          failureDomain,
          weight: 0,
        });
        break;
      } catch (error) {
        if (
          !(error instanceof MicroK8sError && error.code === 'MK_MEMBER_ID_TAKEN') ||
          attempt >= AGENT_LIMITS.idAttempts
        ) {
          // The node was not recorded: the join failed, and a failed join must not burn the token.
          await this.tokens.release(req.token);
          throw error;
        }
        nodeId += 1;
        peer = await issuePeerPair(this.caFiles(), this.ctx.certs.dir, nodeId, ips);
      }
    }
    this.pending.set(nodeId, Date.now());
    // The member is in the log: what follows only records it (a failure is logged, not fatal).
    await recordMemberId(etcdSocket, nodeId).catch((error: unknown) =>
      log.warn('could not record the highest member id', { nodeId, error }),
    );
    await recordCertificate(etcdSocket, peer.cert, `node-${nodeId}`, 'member').catch((error: unknown) =>
      log.warn('could not record the peer certificate', { nodeId, error }),
    );
    await claimNodeName(
      etcdSocket,
      hostname,
      { kind: 'control-plane', address: req.address, memberId: nodeId },
      { replace: true },
    ).catch((error: unknown) => log.warn('could not claim the node name', { hostname, error }));
    log.info('a control-plane node joined', { nodeId, hostname, address: req.address });
    return {
      kind: 'control-plane',
      nodeId,
      clusterId: config.clusterId,
      ...secrets,
      peer,
      members: members.filter((m) => m.peerAddress !== ''),
      ...(status.bootstrap ? { bootstrap: status.bootstrap } : {}),
    };
  }

  /**
   * The members' addresses: MemberList (the replicated member table), completed by the node's
   * own --peer flags. The flags matter on a node that joined a bootstrapped group: its Raft view
   * may lack the bootstrap members (see the report on the datastore), and a joiner that cannot
   * name the leader cannot answer it.
   */
  private async members(config: DaemonConfig): Promise<MemberAddress[]> {
    const etcdSocket = config.clientUnix;
    const fromFlags: MemberAddress[] = [
      { id: config.id, peerAddress: `${config.peerListen.host}:${config.peerListen.port}`, clientUrl: '' },
      ...config.peers.map((p) => ({
        id: p.id,
        peerAddress: `${p.host}:${p.port}`,
        clientUrl: p.clientUrl ?? '',
      })),
    ];
    const listed = etcdSocket === undefined ? [] : await memberAddresses(etcdSocket);
    const byId = new Map(fromFlags.map((m) => [m.id, m]));
    for (const m of listed) if (m.peerAddress !== '' || !byId.has(m.id)) byId.set(m.id, m);
    return [...byId.values()].sort((a, b) => a.id - b.id);
  }

  private forgetJoined(inGroup: readonly number[]): void {
    const now = Date.now();
    for (const [id, at] of this.pending) {
      if (inGroup.includes(id) || now - at > AGENT_LIMITS.pendingIdMs) this.pending.delete(id);
    }
  }

  private async clusterSecrets(): Promise<
    Pick<ControlPlaneJoinResponse, 'ca' | 'frontProxyCa' | 'serviceAccount'>
  > {
    const certs = this.ctx.certs;
    const pair = async (files: CaFiles): Promise<PemPair | undefined> =>
      (await exists(files.keyPath))
        ? { cert: await readFile(files.certPath, 'utf8'), key: await readFile(files.keyPath, 'utf8') }
        : undefined;
    const ca = await pair(certs.ca);
    if (!ca)
      throw new MicroK8sError('MK_CERTS_MISSING', `this node has no cluster CA key (${certs.ca.keyPath})`);
    const frontProxyCa = await pair(certs.frontProxyCa);
    const sa = certs.serviceAccount;
    const serviceAccount = (await exists(sa.keyPath))
      ? { key: await readFile(sa.keyPath, 'utf8'), pub: await readFile(sa.publicKeyPath, 'utf8') }
      : undefined;
    return { ca, ...(frontProxyCa ? { frontProxyCa } : {}), ...(serviceAccount ? { serviceAccount } : {}) };
  }
}

function checkHostname(raw: string): string {
  try {
    return nodeHostname(raw);
  } catch (error) {
    throw new MicroK8sError('MK_JOIN_HOSTNAME', (error as Error).message);
  }
}

function canonical(address: string): string {
  return address.toLowerCase();
}

/** Loopback is allowed (single-machine test clusters); what nobody can dial is not. */
function checkAddress(address: string): void {
  const family = isIP(address);
  const unusable =
    family === 0 ||
    address === '0.0.0.0' ||
    address === '::' ||
    (family === 4 && Number(address.split('.')[0]) >= 224) ||
    (family === 6 && /^ff/i.test(address));
  if (unusable) {
    throw new MicroK8sError(
      'MK_JOIN_ADDRESS',
      `${JSON.stringify(address)} is not an address other nodes can reach`,
    );
  }
}

function parseDomain(value: string | undefined): string {
  try {
    return parseFailureDomain(value ?? 'default');
  } catch (error) {
    throw new MicroK8sError('MK_AGENT_BAD_REQUEST', (error as Error).message);
  }
}

/** HOST of HOST:PORT or [V6]:PORT, lowercase. */
export function hostOf(hostPort: string): string {
  const m = /^\[([^\]]+)\]:\d+$/.exec(hostPort) ?? /^([^:]+):\d+$/.exec(hostPort);
  return (m?.[1] ?? '').toLowerCase();
}
