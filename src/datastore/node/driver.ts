/**
 * The driver of one datastore node: it ties the pure Raft core to the durable log, the peer
 * transport and the SQLite state machine, and serves the etcd backend interface.
 *
 * The Ready loop runs one Ready at a time: persist (one fsync for everything proposed since the
 * last one: group commit), send, apply, advance. A leader whose term and vote are already on disk
 * sends its appends before its own fsync, so its disk write overlaps the followers' (Raft thesis
 * §10.2.1); the commit that depends on it is only made visible by a later Ready, after it.
 * Proposals and ReadIndex requests that arrive in the same turn of the event loop are batched.
 */
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { assert } from '../../lib/assert.js';
import { MicroK8sError } from '../../lib/errors.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { SeededRandom } from '../../lib/random.js';
import type { EtcdBackend, EtcdHeaderInfo, EtcdMember, EtcdStatus } from '../etcd/backend.js';
import { applyConfChange, decodeConfChange, roleOf } from '../raft/membership.js';
import { RawNode } from '../raft/rawnode.js';
import {
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  NONE,
  type NodeId,
  type ReadState,
  type Ready,
  type Role,
} from '../raft/types.js';
import { decodeCommand, encodeCommand } from '../state/codec.js';
import { KvStateMachine } from '../state/kv-store.js';
import type {
  ApplyResult,
  Command,
  MemberInfo,
  RangeRequest,
  RangeResponse,
  RequestOp,
  RevisionEvents,
} from '../state/types.js';
import { DurableLog } from '../storage/durable-log.js';
import { PeerTransport } from '../transport/peer-transport.js';
import type { DaemonConfig } from './config.js';
import { LeaseClock } from './lease-clock.js';
import { decodeProposal, encodeProposal, type ProposalId, proposalKey } from './proposal.js';
import { suspendAwareClock } from './read-lease-clock.js';
import { type MemberReport, type Placement, RolesAgent, type RolesPlanner } from './roles-agent.js';

export interface DatastoreNodeOptions {
  readonly config: DaemonConfig;
  readonly tls: { ca: string; cert: string; key: string };
  /** The URL clients use for this node (MemberList). */
  readonly clientUrl?: string;
  readonly logger?: Logger;
  readonly requestTimeoutMs?: number;
}

/** Limits of the driver's own queues. */
export const DRIVER_LIMITS = {
  maxPendingProposals: 100_000,
  maxProposalBatch: 4096,
  maxPendingReads: 100_000,
  leaseCheckMs: 500,
  /** How often the database size is compared with the quota. */
  quotaCheckMs: 250,
  defaultRequestTimeoutMs: 7_000,
  handoverWaitTicks: 30,
  /** How long a clean stop waits for its voter seat to go to another member. */
  drainMs: 5_000,
} as const;

interface Pending {
  resolve: (result: ApplyResult) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface ReadWaiter {
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export interface NodeStatusReport {
  id: NodeId;
  name: string;
  role: Role | 'none';
  state: string;
  term: number;
  leader: NodeId;
  commit: number;
  applied: number;
  lastIndex: number;
  revision: number;
  members: MemberReport[];
  targets: { voters?: number; standbys?: number };
  /**
   * While the log still starts at its first entry, the membership it starts from (the cluster's
   * --bootstrap, as ID=ROLE,...): a joining node must start from the same one, or it would
   * replay the later membership entries onto an empty group. Absent once the log was compacted
   * (a joiner then gets a snapshot, membership included).
   */
  bootstrap?: string;
  failureDomain: string;
  weight: number;
  transport: Record<string, number>;
  log: Record<string, number>;
}

const EMPTY = new Uint8Array(0);

function noLeader(): MicroK8sError {
  return new MicroK8sError('MK_NO_LEADER', 'etcdserver: no leader');
}

function timeout(): MicroK8sError {
  return new MicroK8sError('MK_TIMEOUT', 'etcdserver: request timed out');
}

function clusterIdOf(name: string): bigint {
  // A stable 63-bit id from the cluster name (FNV-1a 64).
  let h = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(name)) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h & 0x7fffffffffffffffn;
}

export class DatastoreNode implements EtcdBackend {
  readonly id: NodeId;
  readonly config: DaemonConfig;
  private readonly logger: Logger;
  private readonly raft: RawNode;
  private readonly log: DurableLog;
  private readonly sm: KvStateMachine;
  private readonly transport: PeerTransport;
  private readonly incarnation = randomInt(1, 2 ** 31);
  private readonly requestTimeoutMs: number;
  private readonly compactionLag: number;
  private readonly clientUrl: string | undefined;
  private readonly clusterId: bigint;
  private readonly leaseClock = new LeaseClock();

  private seq = 0;
  private readonly pending = new Map<string, Pending>();
  private proposalQueue: Uint8Array[] = [];
  private readQueue: ReadWaiter[] = [];
  private readCtx = 0;
  private readonly readBatches = new Map<number, ReadWaiter[]>();
  private applyWaiters: { index: number; waiters: ReadWaiter[] }[] = [];
  private flushScheduled = false;
  private readyRunning = false;
  private readyAgain = false;
  private readyIdle: Promise<void> = Promise.resolve();
  private persisted: HardState;
  private appliedConf: ConfState;
  private snapshotIndex: number;
  private ticker: NodeJS.Timeout | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private readonly expiring = new Set<number>();
  private stopping = false;
  private knownLeader: NodeId = NONE;
  private noSpace = false;
  private quotaCheckedAt = 0;
  private readonly roles: RolesAgent;
  private fatal: Error | undefined;
  private onFatal: ((error: Error) => void) | undefined;

  private constructor(options: DatastoreNodeOptions, log: DurableLog, sm: KvStateMachine, logger: Logger) {
    const { config } = options;
    this.id = config.id;
    this.config = config;
    this.logger = logger;
    this.log = log;
    this.sm = sm;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DRIVER_LIMITS.defaultRequestTimeoutMs;
    this.compactionLag = config.compactionLag;
    this.clientUrl = options.clientUrl;
    this.clusterId = clusterIdOf(config.clusterId);
    this.persisted = log.initialState().hardState;
    this.snapshotIndex = log.snapshot().meta.index;
    this.appliedConf = this.recoverAppliedConf();
    this.raft = new RawNode({
      id: config.id,
      storage: log,
      random: SeededRandom.fromEntropy(),
      electionTicks: config.electionTicks,
      heartbeatTicks: 1,
      applied: sm.appliedIndex(),
      // Lease reads are timed by a clock, never by ticks: a process that was paused (its timers
      // late) or a host that was suspended must see at once that its lease ran out. Two ticks of
      // margin: one for a voter whose first tick after a heartbeat comes at once, one for timer
      // and clock drift.
      ...(config.readMode === 'lease' && config.electionTicks > 2
        ? { now: suspendAwareClock(), leaseReadMs: (config.electionTicks - 2) * config.tickMs }
        : {}),
    });
    this.transport = new PeerTransport({
      id: config.id,
      clusterId: config.clusterId,
      listen: config.peerListen,
      localAddress: config.peerListen.host,
      tls: options.tls,
      peers: new Map(config.peers.map((p) => [p.id, { host: p.host, port: p.port }])),
      logger: logger.child('transport'),
      refusal: (node) => this.refusalOf(node),
    });
    this.roles = new RolesAgent(
      {
        id: config.id,
        status: () => this.raft.status(),
        members: () => this.sm.members(),
        selfAddress: () => ({
          peerAddress: `${config.peerListen.host}:${this.transport.port}`,
          clientUrl: this.clientUrl ?? '',
        }),
        execute: (cmd) => this.execute(cmd),
        proposeConfChange: (change) => {
          this.raft.proposeConfChange(change);
          this.scheduleReady();
        },
        electionTicks: config.electionTicks,
        tickMs: config.tickMs,
      },
      {
        placement: { failureDomain: config.failureDomain, weight: config.weight },
        peerPlacement: new Map(
          config.peers.map((p) => [
            p.id,
            { failureDomain: p.failureDomain ?? 'default', weight: p.weight ?? 0 },
          ]),
        ),
        targets: {
          ...(config.targetVoters !== undefined ? { voters: config.targetVoters } : {}),
          ...(config.targetStandbys !== undefined ? { standbys: config.targetStandbys } : {}),
        },
        deadAfterMs: config.deadAfterMs,
        logger: logger.child('roles'),
      },
    );
  }

  /** Open the log and the database, recover, and join the cluster's traffic. */
  static async start(options: DatastoreNodeOptions): Promise<DatastoreNode> {
    const logger = options.logger ?? createLogger(`datastore.${options.config.id}`);
    const { dataDir, bootstrap } = options.config;
    const log = await DurableLog.open(join(dataDir, 'raft'), {
      logger: logger.child('log'),
      ...(bootstrap ? { bootstrap } : {}),
    });
    const sm = KvStateMachine.open(join(dataDir, 'state.db'), { logger: logger.child('state') });
    const snapIndex = log.snapshot().meta.index;
    if (sm.appliedIndex() < snapIndex) {
      // A snapshot from the leader was persisted but not (fully) installed before a crash.
      const data = log.storedSnapshotData();
      if (!data) {
        throw new MicroK8sError(
          'MK_DATA_CORRUPTION',
          `the database is at index ${sm.appliedIndex()} but the log starts after snapshot ${snapIndex} and holds no snapshot data`,
        );
      }
      sm.restore(data);
      logger.info('restored the database from the stored snapshot', { index: snapIndex });
    }
    log.setSnapshotProvider(() => sm.snapshot());
    const node = new DatastoreNode(options, log, sm, logger);
    await node.begin();
    return node;
  }

  private recoverAppliedConf(): ConfState {
    let conf = this.log.snapshot().meta.conf;
    const applied = this.sm.appliedIndex();
    let lo = this.log.firstIndex();
    const hi = Math.min(applied, this.log.lastIndex()) + 1;
    while (lo < hi) {
      const page = this.log.entries(lo, hi, 64 * 1024 * 1024);
      for (const e of page)
        if (e.type === EntryType.ConfChange) conf = applyConfChange(conf, decodeConfChange(e.data));
      lo += page.length;
    }
    return conf;
  }

  private async begin(): Promise<void> {
    this.transport.onMessage((m) => {
      if (m.to !== this.id || this.stopping) return;
      this.raft.step(m);
      this.scheduleReady();
    });
    await this.transport.start();
    this.refreshPeers();
    this.transport.probeAll();
    this.ticker = setInterval(() => {
      if (this.stopping) return;
      this.raft.tick();
      this.scheduleReady();
    }, this.config.tickMs);
    this.leaseTimer = setInterval(() => this.expireLeases(), DRIVER_LIMITS.leaseCheckMs);
    this.roles.start();
    // The only voter need not wait an election timeout to lead (a single-node cluster serves at once).
    const conf = this.raft.raft.conf;
    if (
      conf.members.filter((m) => m.role === 'voter').every((m) => m.id === this.id) &&
      roleOf(conf, this.id) === 'voter'
    ) {
      this.raft.campaign();
    }
    this.scheduleReady();
    this.logger.info('datastore node started', {
      id: this.id,
      peer: `${this.config.peerListen.host}:${this.transport.port}`,
      applied: this.sm.appliedIndex(),
      revision: this.sm.revision(),
    });
  }

  /** Let the leader run the roles planner (see roles-agent.ts). */
  setRolesPlanner(planner: RolesPlanner, everyMs?: number): void {
    this.roles.setPlanner(planner, everyMs);
  }

  /** Change this node's failure domain and weight at run time; resolves once replicated. */
  setPlacement(placement: Placement): Promise<void> {
    return this.roles.setPlacement(placement);
  }

  /** Called once when the node hits an unrecoverable error (the daemon exits). */
  setFatalHandler(handler: (error: Error) => void): void {
    this.onFatal = handler;
    if (this.fatal) handler(this.fatal);
  }

  get peerPort(): number {
    return this.transport.port;
  }

  // ------------------------------------------------------------------ the Ready loop

  private scheduleReady(): void {
    if (this.readyRunning) {
      this.readyAgain = true;
      return;
    }
    if (!this.raft.hasReady() || this.fatal) return;
    this.readyRunning = true;
    this.readyIdle = this.runReady().finally(() => {
      this.readyRunning = false;
    });
  }

  private async runReady(): Promise<void> {
    try {
      do {
        this.readyAgain = false;
        while (this.raft.hasReady()) await this.handleReady(this.raft.ready());
      } while (this.readyAgain);
    } catch (error) {
      this.die(error as Error);
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    const hs = rd.hardState;
    const termStable = !hs || (hs.term === this.persisted.term && hs.vote === this.persisted.vote);
    const sendEarly = this.raft.raft.state === 'leader' && termStable;
    if (sendEarly && rd.messages.length > 0) this.transport.send(rd.messages);
    if (rd.snapshot) await this.log.installSnapshot(rd.snapshot);
    // A Ready that only moves the commit index needs no fsync: the commit index is volatile in
    // Raft (the core re-derives it from the applied index and the leader). It is written with the
    // next entries. This saves one fsync per write on the leader.
    const onlyCommit = termStable && rd.entries.length === 0 && !rd.snapshot;
    // Committed entries that are already on our disk (below this Ready's new entries) are applied
    // while the new entries are being fsynced, so a write's answer does not wait for the next
    // batch's fsync. The rest waits for the save, as the Ready order requires.
    let applyAfterSave = rd.committed;
    if (!rd.snapshot && rd.committed.length > 0) {
      const durableBelow = Math.min(
        this.log.lastIndex() + 1,
        rd.entries[0]?.index ?? Number.POSITIVE_INFINITY,
      );
      let n = 0;
      while (n < rd.committed.length && rd.committed[n]!.index < durableBelow) n++;
      if (n > 0) {
        this.apply(rd.committed.slice(0, n));
        applyAfterSave = rd.committed.slice(n);
      }
    }
    if (!onlyCommit && (hs || rd.entries.length > 0)) {
      await this.log.save({ ...(hs ? { hardState: hs } : {}), entries: rd.entries });
      if (hs) this.persisted = hs;
    }
    if (!sendEarly && rd.messages.length > 0) this.transport.send(rd.messages);
    if (rd.snapshot) {
      this.sm.restore(rd.snapshot.data);
      this.appliedConf = rd.snapshot.meta.conf;
      this.snapshotIndex = rd.snapshot.meta.index;
      this.logger.info('installed a snapshot from the leader', {
        index: rd.snapshot.meta.index,
        bytes: rd.snapshot.data.byteLength,
      });
    }
    if (applyAfterSave.length > 0) this.apply(applyAfterSave);
    if (rd.readStates.length > 0) this.onReadStates(rd.readStates);
    if (rd.softState) this.onSoftState(rd.softState.state, rd.softState.leader);
    this.raft.advance(rd);
    this.releaseApplyWaiters();
    await this.maybeSnapshot();
  }

  private apply(entries: readonly Entry[]): void {
    let membersChanged = false;
    const items: { index: number; data: Uint8Array }[] = [];
    const owners: (ProposalId | undefined)[] = [];
    for (const e of entries) {
      if (e.type === EntryType.ConfChange) {
        const change = decodeConfChange(e.data);
        this.appliedConf = applyConfChange(this.appliedConf, change);
        this.roles.nudge();
        // A removed member's row goes in the same transaction, on every replica alike.
        const derived =
          change.kind === 'remove' ? encodeCommand({ type: 'memberRemove', id: change.id }) : EMPTY;
        if (change.kind === 'remove') membersChanged = true;
        items.push({ index: e.index, data: derived });
        owners.push(undefined);
      } else if (e.data.byteLength === 0) {
        items.push({ index: e.index, data: EMPTY });
        owners.push(undefined);
      } else {
        const { id, command } = decodeProposal(e.data);
        items.push({ index: e.index, data: command });
        owners.push(id);
      }
    }
    const results = this.sm.applyEntries(items);
    // The size comes from two SQLite pragmas: check it at most every quotaCheckMs, not per batch.
    const now = Date.now();
    const due = !this.noSpace && now - this.quotaCheckedAt >= DRIVER_LIMITS.quotaCheckMs;
    if (due) this.quotaCheckedAt = now;
    if (due && this.sm.dbSize() > this.config.quotaBytes) {
      this.noSpace = true;
      this.logger.warn('database over its space quota: NOSPACE alarm raised, writes refused', {
        dbSize: this.sm.dbSize(),
        quota: this.config.quotaBytes,
      });
    }
    for (let i = 0; i < items.length; i++) {
      const result = results[i];
      if (result?.ok && (result.response.type === 'memberSet' || result.response.type === 'memberAdd'))
        membersChanged = true;
      if (result?.ok) this.trackLease(result, items[i]!.data);
      const owner = owners[i];
      if (!owner || owner.node !== this.id || owner.incarnation !== this.incarnation) continue;
      const key = proposalKey(owner);
      const p = this.pending.get(key);
      if (!p) continue;
      this.pending.delete(key);
      clearTimeout(p.timer);
      if (result) p.resolve(result);
      else
        p.reject(
          new MicroK8sError('MK_INTERNAL', 'a proposal of this process was applied before it was made'),
        );
    }
    if (membersChanged) this.refreshPeers();
  }

  private trackLease(result: Extract<ApplyResult, { ok: true }>, command: Uint8Array): void {
    const r = result.response;
    if (r.type === 'memberSet' || r.type === 'memberAdd') this.roles.nudge();
    else if (r.type === 'leaseGrant') this.leaseClock.renew(r.id, r.ttl);
    else if (r.type === 'leaseRevoke' || r.type === 'leaseKeepAlive') {
      const cmd = decodeCommand(command);
      if (cmd.type === 'leaseRevoke' || cmd.type === 'leaseExpire') {
        this.leaseClock.forget(cmd.id);
        this.expiring.delete(cmd.id);
      } else if (cmd.type === 'leaseKeepAlive' && r.type === 'leaseKeepAlive')
        this.leaseClock.renew(cmd.id, r.ttl);
    }
  }

  private onSoftState(state: string, leader: NodeId): void {
    this.logger.info('raft state changed', { state, leader, term: this.raft.raft.term });
    if (state === 'leader') {
      this.leaseClock.onBecomeLeader(this.sm.leases());
      this.roles.nudge();
    }
    const previous = this.knownLeader;
    this.knownLeader = leader;
    if (previous !== NONE && previous !== leader) {
      // Requests forwarded to (or proposed by) the old leader may be lost with it: fail them now,
      // so clients retry instead of waiting for a timeout (failover then costs an election, not a
      // request timeout), and a node cut off from the majority answers quickly instead of
      // hanging. They may still have been applied (a forwarded proposal can sit in a stalled
      // connection and reach the leader after a heal), so they get etcd's ambiguous answers,
      // never "no leader", which promises that nothing was proposed.
      const error = () =>
        leader === NONE
          ? new MicroK8sError(
              'MK_LEADER_LOST',
              'etcdserver: request timed out, possibly due to previous leader failure',
            )
          : new MicroK8sError('MK_LEADER_CHANGED', 'etcdserver: leader changed');
      for (const [, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(error());
      }
      this.pending.clear();
      // Reads change nothing: without a leader they are plainly refused.
      this.failReads(leader === NONE ? noLeader() : error());
    } else if (leader === NONE) {
      this.failReads(noLeader());
    }
  }

  private async maybeSnapshot(): Promise<void> {
    const applied = this.sm.appliedIndex();
    if (applied - this.snapshotIndex < this.config.snapshotEntries) return;
    const term = this.log.term(applied);
    if (term === undefined) return;
    // The database must be durable up to `applied` before the log before it may go.
    this.sm.checkpoint();
    await this.log.markSnapshot({ index: applied, term, conf: this.appliedConf });
    this.snapshotIndex = applied;
    const compactTo = applied - this.compactionLag;
    if (compactTo >= this.log.firstIndex()) await this.log.compact(compactTo);
    this.logger.debug('snapshot and compaction', { index: applied, compactTo });
  }

  private die(error: Error): void {
    if (this.fatal) return;
    this.fatal = error;
    this.logger.error('the datastore node stops on an unrecoverable error', { error });
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.clear();
    this.failReads(error);
    this.onFatal?.(error);
  }

  // ------------------------------------------------------------------ proposals

  execute(cmd: Command): Promise<ApplyResult> {
    if (this.stopping || this.fatal)
      return Promise.reject(new MicroK8sError('MK_STOPPED', 'etcdserver: server stopped'));
    if (this.raft.raft.lead === NONE) return Promise.reject(noLeader());
    if (this.noSpace && DatastoreNode.grows(cmd)) {
      return Promise.reject(new MicroK8sError('MK_NO_SPACE', 'etcdserver: mvcc: database space exceeded'));
    }
    if (this.pending.size >= DRIVER_LIMITS.maxPendingProposals) {
      return Promise.reject(new MicroK8sError('MK_LIMIT_EXCEEDED', 'etcdserver: too many requests'));
    }
    const id: ProposalId = { node: this.id, incarnation: this.incarnation, seq: ++this.seq };
    const data = encodeProposal(id, encodeCommand(cmd));
    return new Promise<ApplyResult>((resolve, reject) => {
      const key = proposalKey(id);
      const timer = setTimeout(() => {
        if (this.pending.delete(key)) reject(timeout());
      }, this.requestTimeoutMs);
      this.pending.set(key, { resolve, reject, timer });
      this.proposalQueue.push(data);
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushProposals();
      this.flushReads();
      this.scheduleReady();
    });
  }

  private flushProposals(): void {
    while (this.proposalQueue.length > 0) {
      const batch = this.proposalQueue.splice(0, DRIVER_LIMITS.maxProposalBatch);
      try {
        this.raft.propose(batch);
      } catch (error) {
        for (const data of batch) {
          const key = proposalKey(decodeProposal(data).id);
          const p = this.pending.get(key);
          if (!p) continue;
          this.pending.delete(key);
          clearTimeout(p.timer);
          p.reject(error as Error);
        }
      }
    }
  }

  // ------------------------------------------------------------------ linearizable reads

  /** Resolves once this node has applied everything committed when the read was asked. */
  readBarrier(): Promise<void> {
    if (this.stopping || this.fatal)
      return Promise.reject(new MicroK8sError('MK_STOPPED', 'etcdserver: server stopped'));
    if (this.raft.raft.lead === NONE) return Promise.reject(noLeader());
    if (this.readQueue.length >= DRIVER_LIMITS.maxPendingReads) {
      return Promise.reject(new MicroK8sError('MK_LIMIT_EXCEEDED', 'etcdserver: too many requests'));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: ReadWaiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          waiter.resolve = () => {};
          reject(timeout());
        }, this.requestTimeoutMs),
      };
      this.readQueue.push(waiter);
      this.scheduleFlush();
    });
  }

  private flushReads(): void {
    if (this.readQueue.length === 0) return;
    const waiters = this.readQueue;
    this.readQueue = [];
    const ctx = ++this.readCtx;
    try {
      this.raft.readIndex(ctx);
      this.readBatches.set(ctx, waiters);
    } catch (error) {
      for (const w of waiters) this.settle(w, error as Error);
    }
  }

  private onReadStates(states: readonly ReadState[]): void {
    for (const rs of states) {
      const waiters = this.readBatches.get(rs.context);
      if (!waiters) continue;
      this.readBatches.delete(rs.context);
      this.applyWaiters.push({ index: rs.index, waiters });
    }
  }

  private releaseApplyWaiters(): void {
    if (this.applyWaiters.length === 0) return;
    const applied = this.sm.appliedIndex();
    const keep: typeof this.applyWaiters = [];
    for (const batch of this.applyWaiters) {
      if (batch.index <= applied) for (const w of batch.waiters) this.settle(w);
      else keep.push(batch);
    }
    this.applyWaiters = keep;
  }

  private settle(w: ReadWaiter, error?: Error): void {
    clearTimeout(w.timer);
    if (error) w.reject(error);
    else w.resolve();
  }

  private failReads(error: Error): void {
    for (const w of this.readQueue) this.settle(w, error);
    this.readQueue = [];
    for (const waiters of this.readBatches.values()) for (const w of waiters) this.settle(w, error);
    this.readBatches.clear();
  }

  // ------------------------------------------------------------------ leases

  private expireLeases(): void {
    if (this.stopping || this.raft.raft.state !== 'leader') return;
    for (const id of this.leaseClock.expired()) {
      if (this.expiring.has(id)) continue;
      this.expiring.add(id);
      this.execute({ type: 'leaseExpire', id }).then(
        () => this.expiring.delete(id),
        (error: Error) => {
          this.expiring.delete(id);
          this.logger.debug('lease expiry not applied yet', { lease: id, error });
        },
      );
    }
  }

  // ------------------------------------------------------------------ EtcdBackend

  header(): EtcdHeaderInfo {
    return {
      clusterId: this.clusterId,
      memberId: BigInt(this.id),
      revision: this.sm.revision(),
      raftTerm: this.raft.raft.term,
    };
  }

  async range(req: RangeRequest, linearizable: boolean): Promise<RangeResponse> {
    if (linearizable) await this.readBarrier();
    return this.sm.range(req);
  }

  subscribe(listener: (batch: RevisionEvents) => void): () => void {
    return this.sm.subscribe(listener);
  }

  history(fromRevision: number, key: Uint8Array, rangeEnd: Uint8Array | undefined, limit: number) {
    return this.sm.history(fromRevision, key, rangeEnd, limit);
  }

  revision(): number {
    return this.sm.revision();
  }

  compactRevision(): number {
    return this.sm.compactRevision();
  }

  async progressRevision(): Promise<number> {
    // Events are published synchronously after each apply, so everything up to the applied
    // revision has been handed to subscribers already.
    return this.sm.revision();
  }

  private static unwrap(result: ApplyResult): Extract<ApplyResult, { ok: true }>['response'] {
    if (!result.ok) throw new MicroK8sError(result.error.code as 'MK_INVALID_ARGUMENT', result.error.message);
    return result.response;
  }

  async leaseGrant(ttl: number, id: number): Promise<{ id: number; ttl: number }> {
    const leaseId = id > 0 ? id : randomInt(1, 2 ** 47);
    const r = DatastoreNode.unwrap(await this.execute({ type: 'leaseGrant', id: leaseId, ttl }));
    assert(r.type === 'leaseGrant', 'lease grant answered with another type');
    return { id: r.id, ttl: r.ttl };
  }

  async leaseRevoke(id: number): Promise<void> {
    DatastoreNode.unwrap(await this.execute({ type: 'leaseRevoke', id }));
  }

  async leaseKeepAlive(id: number): Promise<number> {
    const r = DatastoreNode.unwrap(await this.execute({ type: 'leaseKeepAlive', id }));
    assert(r.type === 'leaseKeepAlive', 'keep-alive answered with another type');
    return r.ttl;
  }

  async leaseTimeToLive(
    id: number,
    keys: boolean,
  ): Promise<{ ttl: number; grantedTtl: number; keys: Uint8Array[] }> {
    const lease = this.sm.lease(id);
    if (!lease) return { ttl: -1, grantedTtl: 0, keys: [] };
    const left = this.leaseClock.remaining(id);
    return { ttl: left < 0 ? lease.ttl : left, grantedTtl: lease.ttl, keys: keys ? lease.keys : [] };
  }

  leases(): number[] {
    return this.sm.leases().map((l) => l.id);
  }

  status(): EtcdStatus {
    const r = this.raft.raft;
    return {
      version: '3.5.13',
      dbSize: this.sm.dbSize(),
      dbSizeInUse: this.sm.dbSizeInUse(),
      leader: BigInt(r.lead),
      raftIndex: r.log.committed,
      raftTerm: r.term,
      raftAppliedIndex: this.sm.appliedIndex(),
      isLearner: roleOf(r.conf, this.id) !== 'voter',
      errors: this.fatal ? [this.fatal.message] : [],
    };
  }

  hashKV(revision: number): Promise<{ hash: number; compactRevision: number; hashRevision: number }> {
    return this.sm.hashKV(revision);
  }

  defragment(): Promise<void> {
    return this.sm.defragment();
  }

  alarms(): { memberId: bigint; alarm: 'NOSPACE' }[] {
    return this.noSpace ? [{ memberId: BigInt(this.id), alarm: 'NOSPACE' }] : [];
  }

  disarm(): void {
    this.noSpace = false;
  }

  /** Commands that can grow the database are refused while NOSPACE is raised (reads, deletes and compaction go on). */
  private static grows(cmd: Command): boolean {
    if (cmd.type === 'put' || cmd.type === 'leaseGrant') return true;
    if (cmd.type !== 'txn') return false;
    const hasPut = (ops: readonly RequestOp[]): boolean =>
      ops.some((op) => 'put' in op || ('txn' in op && (hasPut(op.txn.success) || hasPut(op.txn.failure))));
    return hasPut(cmd.request.success) || hasPut(cmd.request.failure);
  }

  members(): EtcdMember[] {
    const known = this.knownMembers();
    return this.raft.raft.conf.members.map((m) => {
      const self = m.id === this.id;
      const info = known.get(m.id);
      const peerUrl = self
        ? `https://${this.config.peerListen.host}:${this.transport.port}`
        : info?.peerAddress
          ? `https://${info.peerAddress}`
          : '';
      const clientUrl = self ? this.clientUrl : info?.clientUrl;
      return {
        id: BigInt(m.id),
        name: self ? this.config.name : `node${m.id}`,
        peerURLs: peerUrl ? [peerUrl] : [],
        clientURLs: clientUrl ? [clientUrl] : [],
        isLearner: m.role !== 'voter',
      };
    });
  }

  /**
   * How to reach every member: the replicated member table, which wins, over the --peer flags
   * (which only seed a new cluster and name members that have not published themselves yet).
   */
  private knownMembers(): Map<NodeId, { peerAddress: string; clientUrl: string }> {
    const known = new Map<NodeId, { peerAddress: string; clientUrl: string }>(
      this.config.peers.map((p) => [
        p.id,
        { peerAddress: `${p.host}:${p.port}`, clientUrl: p.clientUrl ?? '' },
      ]),
    );
    for (const m of this.sm.members()) if (m.peerAddress) known.set(m.id, m);
    return known;
  }

  /** Keep the transport's peer set equal to the known members (a joined node, a moved address). */
  private refreshPeers(): void {
    const peers = new Map<NodeId, { host: string; port: number }>();
    for (const [id, m] of this.knownMembers()) {
      if (id === this.id) continue;
      const at = m.peerAddress.lastIndexOf(':');
      const host = m.peerAddress.slice(0, at).replace(/^\[|\]$/g, '');
      const port = Number(m.peerAddress.slice(at + 1));
      if (at > 0 && Number.isInteger(port) && port > 0 && port < 65536) peers.set(id, { host, port });
    }
    this.transport.setPeers(peers);
  }

  /**
   * A node of this cluster that is neither in the Raft group nor recorded in the member table
   * (a joiner is recorded before it starts) was removed: it is refused at the handshake and told
   * why, instead of campaigning or forwarding into a group that no longer has it. Until this node
   * has applied anything it cannot tell, so it refuses nobody.
   */
  private refusalOf(node: NodeId): string | undefined {
    if (this.sm.appliedIndex() === 0) return undefined;
    if (roleOf(this.raft.raft.conf, node) !== undefined) return undefined;
    if (this.sm.members().some((m) => m.id === node)) return undefined;
    return `node ${node} is not a member of this cluster (it was removed): re-join it to bring it back`;
  }

  /** Ask for a member's removal (carried out by the leader's roles agent, see there). */
  requestRemoval(id: NodeId, force: boolean): Promise<void> {
    if (roleOf(this.raft.raft.conf, id) === undefined) {
      return Promise.reject(new MicroK8sError('MK_INVALID_ARGUMENT', `node ${id} is not a member`));
    }
    const known = this.knownMembers().get(id);
    const row = this.sm.members().find((m) => m.id === id);
    return this.roles.registerMember({
      id,
      failureDomain: row?.failureDomain ?? 'default',
      weight: row?.weight ?? 0,
      draining: row?.draining ?? false,
      peerAddress: known?.peerAddress ?? '',
      clientUrl: known?.clientUrl ?? '',
      removal: force ? 'force' : 'if-offline',
    });
  }

  /** Record another member in the replicated table (a node joining); the leader then adds it. */
  registerMember(info: MemberInfo): Promise<void> {
    return this.roles.addMember(info);
  }

  // ------------------------------------------------------------------ operations

  report(): NodeStatusReport {
    const s = this.raft.status();
    return {
      id: this.id,
      name: this.config.name,
      role: roleOf(s.conf, this.id) ?? 'none',
      state: s.state,
      term: s.term,
      leader: s.leader,
      commit: s.commit,
      applied: this.sm.appliedIndex(),
      lastIndex: s.lastIndex,
      revision: this.sm.revision(),
      members: this.roles.members(),
      ...(this.snapshotIndex === 0 && this.log.firstIndex() <= 1
        ? {
            bootstrap: this.log
              .initialState()
              .snapshotConf.members.map((m) => `${m.id}=${m.role}`)
              .join(','),
          }
        : {}),
      targets: {
        ...(this.config.targetVoters !== undefined ? { voters: this.config.targetVoters } : {}),
        ...(this.config.targetStandbys !== undefined ? { standbys: this.config.targetStandbys } : {}),
      },
      failureDomain: this.roles.currentPlacement.failureDomain,
      weight: this.roles.currentPlacement.weight,
      transport: { ...this.transport.stats() },
      log: { ...this.log.stats() },
    };
  }

  hash(): string {
    return this.sm.hash();
  }

  transferLeadership(target: NodeId): void {
    this.raft.transferLeadership(target);
    this.scheduleReady();
  }

  /**
   * Stop cleanly. With handover, a leader first transfers leadership to the most up-to-date
   * voter, so a rolling restart interrupts writes only for one transfer.
   */
  async stop(options: { handover?: boolean } = {}): Promise<void> {
    if (options.handover !== false && !this.fatal) await this.handOver();
    this.stopping = true;
    if (this.ticker) clearInterval(this.ticker);
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    this.roles.stop();
    const stopped = new MicroK8sError('MK_STOPPED', 'etcdserver: server stopped');
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(stopped);
    }
    this.pending.clear();
    this.failReads(stopped);
    await this.readyIdle;
    await this.transport.stop();
    await this.log.close();
    this.sm.close();
    this.logger.info('datastore node stopped', { id: this.id });
  }

  /**
   * A clean stop hands over: a leader transfers leadership to the most up-to-date voter, then the
   * node marks itself draining so the leader gives its voter seat to a caught-up standby before it
   * goes (bounded: with nobody to take the seat it just stops, as a crash would).
   */
  private async handOver(): Promise<void> {
    await this.transferAway();
    if (this.raft.raft.lead === NONE) return;
    const role = await this.roles.drain(DRIVER_LIMITS.drainMs);
    this.logger.info('handed over before stopping', { role });
  }

  private async transferAway(): Promise<void> {
    const status = this.raft.status();
    if (status.state !== 'leader') return;
    const candidates = status.progress
      .filter((p) => p.id !== this.id && p.role === 'voter' && p.ticksSinceHeard < this.config.electionTicks)
      .sort((a, b) => b.match - a.match);
    const target = candidates[0];
    if (!target) return;
    this.logger.info('handing leadership over before stopping', { to: target.id });
    this.transferLeadership(target.id);
    for (let i = 0; i < DRIVER_LIMITS.handoverWaitTicks && this.raft.raft.state === 'leader'; i++) {
      await sleep(this.config.tickMs);
    }
    // Wait (bounded) until this node has heard of the new leader, so draining can be forwarded.
    for (let i = 0; i < DRIVER_LIMITS.handoverWaitTicks && this.raft.raft.lead === NONE; i++) {
      await sleep(this.config.tickMs);
    }
  }
}
