/**
 * A deterministic cluster of Raft cores in one process: a simulated clock, a simulated network
 * (drops, duplicates, delays that reorder, one-way and symmetric partitions) and simulated disks
 * that keep only what the Ready loop persisted. Everything random comes from one seeded PRNG.
 *
 * Each node runs a small key-value state machine; clients record a history of operations for the
 * linearizability checker. Invariant checks run as the cluster goes and throw `SimViolation`.
 */

import {
  applyConfChange,
  type ConfState,
  decodeConfChange,
  type Entry,
  EntryType,
  MemoryStorage,
  type Message,
  type NodeId,
  type RaftLimits,
  RawNode,
  type Ready,
  type Role,
} from '../../src/datastore/raft/index.js';
import { SeededRandom } from '../../src/lib/random.js';
import type { KvInput, KvOutput, Operation } from '../lin/checker.js';

export class SimViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimViolation';
  }
}

/** Sim time runs in sub-ticks; a node's Raft clock ticks every TICK of them. */
export const TICK = 10;

export interface NetworkFaults {
  dropRate: number;
  duplicateRate: number;
  /** Sub-ticks of extra random delay (reorders messages). */
  maxExtraDelay: number;
}

export const NO_FAULTS: NetworkFaults = { dropRate: 0, duplicateRate: 0, maxExtraDelay: 0 };

export interface ClusterOptions {
  seed: number;
  members: readonly { id: NodeId; role: Role }[];
  /** Nodes that exist but are not members yet (they can be added later). */
  extraNodes?: readonly NodeId[];
  electionTicks?: number;
  limits?: Partial<RaftLimits>;
  /**
   * Lease reads, in sub-ticks (0: off). Default: the theoretical edge, one sub-tick short of
   * (electionTicks - 1) ticks (a voter that heard a heartbeat refuses candidates for at least that
   * long, its first tick may come at once), tighter than the driver's margin on purpose.
   */
  leaseReadTime?: number;
  /** Take a snapshot and compact when this many entries were applied since the last one (0: never). */
  snapshotEvery?: number;
  /** Entries kept behind a snapshot (so slightly lagging followers still get entries). */
  compactionLag?: number;
}

type Command =
  | { client: number; seq: number; op: 'put'; key: string; value: string }
  | { client: number; seq: number; op: 'delete'; key: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface InFlight {
  at: number;
  order: number;
  msg: Message;
}

export class SimNode {
  readonly id: NodeId;
  /** The simulated disk: survives crashes. */
  readonly disk: MemoryStorage;
  raft: RawNode | undefined;
  /** Volatile state machine, rebuilt from the disk on restart. */
  kv = new Map<string, string>();
  /** Last applied sequence per client: a proposal duplicated by the network applies once. */
  sessions = new Map<number, number>();
  applied = 0;
  conf: ConfState;
  private lastSnapshot = 0;
  readStates: { index: number; context: number }[] = [];
  /** Sub-tick offset of this process's Raft clock: real nodes' timers are not in phase. */
  phase = 0;
  /** A paused process (SIGSTOP, a long GC pause): no ticks, no messages, no clients until then. */
  pausedUntil = 0;

  constructor(id: NodeId, bootstrap: ConfState) {
    this.id = id;
    this.disk = new MemoryStorage(bootstrap);
    this.conf = bootstrap;
  }

  get up(): boolean {
    return this.raft !== undefined;
  }

  start(cluster: Cluster): void {
    this.phase = cluster.rng.int(TICK);
    this.pausedUntil = 0;
    this.raft = new RawNode({
      id: this.id,
      storage: this.disk,
      random: cluster.rng.fork(),
      electionTicks: cluster.electionTicks,
      limits: cluster.limits,
      now: () => cluster.now,
      leaseReadMs: cluster.leaseReadTime,
    });
    const snap = this.disk.snapshot();
    this.restoreState(snap.data);
    this.applied = snap.meta.index;
    this.lastSnapshot = snap.meta.index;
    this.conf = snap.meta.conf;
    this.readStates = [];
  }

  crash(): void {
    this.raft = undefined;
  }

  restoreState(data: Uint8Array): void {
    const state =
      data.byteLength > 0
        ? (JSON.parse(decoder.decode(data)) as { kv: [string, string][]; sessions: [number, number][] })
        : { kv: [], sessions: [] };
    this.kv = new Map(state.kv);
    this.sessions = new Map(state.sessions);
  }

  private stateData(): Uint8Array {
    return encoder.encode(
      JSON.stringify({
        kv: [...this.kv.entries()].sort(),
        sessions: [...this.sessions.entries()].sort((a, b) => a[0] - b[0]),
      }),
    );
  }

  applyEntry(cluster: Cluster, e: Entry): void {
    if (e.index <= this.applied)
      throw new SimViolation(`node ${this.id} applied ${e.index} twice (applied ${this.applied})`);
    if (e.index !== this.applied + 1)
      throw new SimViolation(`node ${this.id} skipped from ${this.applied} to ${e.index}`);
    cluster.recordApplied(this.id, e);
    this.applied = e.index;
    if (e.type === EntryType.ConfChange) {
      this.conf = applyConfChange(this.conf, decodeConfChange(e.data));
    } else if (e.data.byteLength > 0) {
      const cmd = JSON.parse(decoder.decode(e.data)) as Command;
      if ((this.sessions.get(cmd.client) ?? 0) >= cmd.seq) return; // a duplicate of an applied proposal
      this.sessions.set(cmd.client, cmd.seq);
      if (cmd.op === 'put') this.kv.set(cmd.key, cmd.value);
      else this.kv.delete(cmd.key);
      cluster.onApplied(this.id, cmd);
    }
  }

  maybeSnapshot(every: number, lag: number): void {
    if (every <= 0 || this.applied - this.lastSnapshot < every) return;
    this.disk.createSnapshot(this.applied, this.conf, this.stateData());
    this.lastSnapshot = this.applied;
    // Keep `lag` entries behind the snapshot by compacting less than all of it.
    const compactTo = this.applied - lag;
    if (compactTo > this.disk.firstIndex()) this.disk.compact(compactTo);
  }
}

interface PendingWrite {
  client: number;
  seq: number;
  node: NodeId;
  op: Operation;
  deadline: number;
}

interface PendingRead {
  client: number;
  node: NodeId;
  context: number;
  key: string;
  call: number;
  deadline: number;
  index?: number;
}

export class Cluster {
  readonly rng: SeededRandom;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly electionTicks: number;
  readonly limits: Partial<RaftLimits> | undefined;
  readonly leaseReadTime: number;
  now = 0;
  faults: NetworkFaults = NO_FAULTS;
  /** Directed links that drop everything: "from->to". */
  private readonly cut = new Set<string>();
  private inflight: InFlight[] = [];
  private order = 0;
  private readonly snapshotEvery: number;
  private readonly compactionLag: number;
  /** term -> leader seen in it. */
  private readonly leaders = new Map<number, NodeId>();
  /** index -> the entry first applied there (by anyone). */
  private readonly appliedLog = new Map<number, { term: number; type: number; data: string }>();
  readonly history: Operation[] = [];
  private readonly writes = new Map<string, PendingWrite>();
  private reads: PendingRead[] = [];
  private readContext = 0;
  private readonly clientSeq = new Map<number, number>();
  private readonly busyClients = new Set<number>();
  readonly sentByType = new Map<number, number>();
  /** Hash of everything that happened, to prove a replay is identical. */
  trace = 2166136261;
  stats = {
    messages: 0,
    dropped: 0,
    duplicated: 0,
    crashes: 0,
    restarts: 0,
    confChanges: 0,
    writesOk: 0,
    readsOk: 0,
    timeouts: 0,
  };

  constructor(options: ClusterOptions) {
    this.rng = new SeededRandom(options.seed);
    this.electionTicks = options.electionTicks ?? 10;
    this.leaseReadTime = options.leaseReadTime ?? (this.electionTicks - 1) * TICK - 1;
    this.limits = options.limits;
    this.snapshotEvery = options.snapshotEvery ?? 0;
    this.compactionLag = options.compactionLag ?? 5;
    const conf: ConfState = { members: [...options.members].sort((a, b) => a.id - b.id) };
    for (const m of conf.members) this.nodes.set(m.id, new SimNode(m.id, conf));
    for (const id of options.extraNodes ?? []) this.nodes.set(id, new SimNode(id, { members: [] }));
    for (const node of this.nodes.values()) node.start(this);
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  raft(id: NodeId): RawNode {
    const r = this.node(id).raft;
    if (!r) throw new Error(`node ${id} is down`);
    return r;
  }

  private mix(value: number): void {
    this.trace = Math.imul(this.trace ^ (value >>> 0), 16777619) >>> 0;
  }

  // ------------------------------------------------------------ network

  partition(...groups: NodeId[][]): void {
    this.heal();
    const groupOf = new Map<NodeId, number>();
    groups.forEach((g, i) => {
      for (const id of g) groupOf.set(id, i);
    });
    for (const a of this.nodes.keys()) {
      for (const b of this.nodes.keys()) {
        if (a !== b && groupOf.get(a) !== groupOf.get(b)) this.cut.add(`${a}->${b}`);
      }
    }
  }

  isolate(id: NodeId): void {
    this.partition(
      [id],
      [...this.nodes.keys()].filter((n) => n !== id),
    );
  }

  /**
   * Freeze a node's process for `ticks` ticks while time goes on for everyone else: its clock
   * does not tick, it reads no messages and serves no clients. A leader that wakes up must not
   * trust what it knew before (lease reads are timed by the clock, not by its ticks).
   */
  pause(id: NodeId, ticks: number): void {
    const node = this.node(id);
    if (node.raft) node.pausedUntil = this.now + ticks * TICK;
  }

  paused(node: SimNode): boolean {
    return this.now < node.pausedUntil;
  }

  cutOneWay(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}->${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  private send(msg: Message): void {
    this.stats.messages++;
    this.sentByType.set(msg.type, (this.sentByType.get(msg.type) ?? 0) + 1);
    if (this.cut.has(`${msg.from}->${msg.to}`) || this.rng.chance(this.faults.dropRate)) {
      this.stats.dropped++;
      return;
    }
    const copies = this.rng.chance(this.faults.duplicateRate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      const delay =
        1 +
        this.rng.int(3) +
        (this.faults.maxExtraDelay > 0 ? this.rng.int(this.faults.maxExtraDelay + 1) : 0);
      this.inflight.push({ at: this.now + delay, order: this.order++, msg });
    }
  }

  private deliverDue(): void {
    if (this.inflight.length === 0) return;
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const f of this.inflight) (f.at <= this.now ? due : later).push(f);
    if (due.length === 0) return;
    this.inflight = later;
    due.sort((a, b) => a.at - b.at || a.order - b.order);
    for (const f of due) {
      const target = this.nodes.get(f.msg.to);
      if (!target?.raft) continue;
      if (this.paused(target)) {
        // Waits in the socket buffer until the process runs again.
        this.inflight.push({ ...f, at: target.pausedUntil });
        continue;
      }
      // A link cut after sending also loses what is still on the wire.
      if (this.cut.has(`${f.msg.from}->${f.msg.to}`)) continue;
      this.mix(f.msg.type * 31 + f.msg.from * 7 + f.msg.to);
      target.raft.step(f.msg);
      this.processReady(target);
    }
  }

  // ------------------------------------------------------------ ready loop

  /**
   * Persist, send, apply, advance. `crashPoint` lets the swarm crash a node part way:
   * 'before-persist' loses the whole Ready, 'after-persist' loses the sends and the applies.
   */
  processReady(node: SimNode, crashPoint?: 'before-persist' | 'after-persist'): void {
    let rounds = 0;
    while (node.raft?.hasReady()) {
      if (++rounds > 1000) throw new SimViolation(`node ${node.id} Ready loop does not settle`);
      const raft = node.raft;
      const rd = raft.ready();
      this.checkLeader(node);
      if (crashPoint === 'before-persist') {
        node.crash();
        return;
      }
      this.persist(node, rd);
      if (crashPoint === 'after-persist') {
        node.crash();
        return;
      }
      for (const m of rd.messages) this.send(m);
      if (rd.snapshot) {
        node.restoreState(rd.snapshot.data);
        node.applied = rd.snapshot.meta.index;
        node.conf = rd.snapshot.meta.conf;
        this.checkSnapshotAgainstLog(node);
      }
      for (const e of rd.committed) node.applyEntry(this, e);
      node.readStates.push(...rd.readStates);
      raft.advance(rd);
      node.maybeSnapshot(this.snapshotEvery, this.compactionLag);
      this.serveReads(node);
    }
  }

  private persist(node: SimNode, rd: Ready): void {
    if (rd.snapshot) node.disk.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) node.disk.append(rd.entries);
    if (rd.hardState) node.disk.setHardState(rd.hardState);
  }

  private checkLeader(node: SimNode): void {
    const r = node.raft!.raft;
    if (r.state !== 'leader') return;
    const known = this.leaders.get(r.term);
    if (known === undefined) this.leaders.set(r.term, node.id);
    else if (known !== node.id)
      throw new SimViolation(`two leaders in term ${r.term}: ${known} and ${node.id}`);
  }

  /** Every replica applies the same entry at each index: nothing committed is ever lost or changed. */
  recordApplied(id: NodeId, e: Entry): void {
    const data = decoder.decode(e.data);
    const known = this.appliedLog.get(e.index);
    if (known === undefined) {
      this.appliedLog.set(e.index, { term: e.term, type: e.type, data });
      this.mix(e.index);
    } else if (known.term !== e.term || known.type !== e.type || known.data !== data) {
      throw new SimViolation(
        `node ${id} applied a different entry at ${e.index}: term ${e.term} vs ${known.term}`,
      );
    }
  }

  private checkSnapshotAgainstLog(node: SimNode): void {
    if (node.applied > this.maxApplied())
      throw new SimViolation(`node ${node.id} installed a snapshot beyond anything applied`);
  }

  maxApplied(): number {
    let max = 0;
    for (const i of this.appliedLog.keys()) if (i > max) max = i;
    return max;
  }

  // ------------------------------------------------------------ time

  /** Advance one sub-tick: deliver messages, tick the nodes whose clock is due, run the Ready loops. */
  step(): void {
    this.now++;
    this.deliverDue();
    for (const node of this.nodes.values()) {
      if (!node.raft || this.paused(node) || (this.now + node.phase) % TICK !== 0) continue;
      node.raft.tick();
      this.processReady(node);
    }
    if (this.now % TICK === 0) this.expireClientOps();
  }

  run(subTicks: number): void {
    for (let i = 0; i < subTicks; i++) this.step();
  }

  ticks(n: number): void {
    this.run(n * TICK);
  }

  /** Run until `done` holds, at most `maxTicks`; returns whether it held. */
  runUntil(done: () => boolean, maxTicks: number): boolean {
    for (let i = 0; i < maxTicks * TICK; i++) {
      if (done()) return true;
      this.step();
    }
    return done();
  }

  // ------------------------------------------------------------ views

  leader(): NodeId | undefined {
    let best: { id: NodeId; term: number } | undefined;
    for (const node of this.nodes.values()) {
      const r = node.raft?.raft;
      if (r?.state === 'leader' && (!best || r.term > best.term)) best = { id: node.id, term: r.term };
    }
    return best?.id;
  }

  restart(id: NodeId): void {
    const node = this.node(id);
    node.crash();
    node.start(this);
    this.stats.restarts++;
    this.processReady(node);
  }

  crash(id: NodeId, point?: 'before-persist' | 'after-persist'): void {
    const node = this.node(id);
    if (!node.raft) return;
    this.stats.crashes++;
    if (point && node.raft.hasReady()) this.processReady(node, point);
    node.crash();
    this.reads = this.reads.filter((r) => r.node !== id);
  }

  // ------------------------------------------------------------ client operations

  private nextSeq(client: number): number {
    const seq = (this.clientSeq.get(client) ?? 0) + 1;
    this.clientSeq.set(client, seq);
    return seq;
  }

  clientBusy(client: number): boolean {
    return this.busyClients.has(client);
  }

  /** Start a write from `client` through `via`; false if it was refused at once (no effect). */
  write(
    client: number,
    via: NodeId,
    input: Extract<KvInput, { op: 'put' | 'delete' }>,
    timeoutTicks = 40,
  ): boolean {
    const node = this.node(via);
    if (!node.raft || this.paused(node) || this.busyClients.has(client)) return false;
    const seq = this.nextSeq(client);
    const cmd: Command =
      input.op === 'put'
        ? { client, seq, op: 'put', key: input.key, value: input.value }
        : { client, seq, op: 'delete', key: input.key };
    try {
      node.raft.propose([encoder.encode(JSON.stringify(cmd))]);
    } catch (error) {
      if ((error as { code?: string }).code === undefined) throw error;
      return false;
    }
    const op: Operation = { client, input, call: this.now, ret: Number.POSITIVE_INFINITY };
    this.history.push(op);
    this.writes.set(`${client}/${seq}`, {
      client,
      seq,
      node: via,
      op,
      deadline: this.now + timeoutTicks * TICK,
    });
    this.busyClients.add(client);
    this.processReady(node);
    return true;
  }

  onApplied(nodeId: NodeId, cmd: Command): void {
    const key = `${cmd.client}/${cmd.seq}`;
    const w = this.writes.get(key);
    if (!w || w.node !== nodeId) return;
    this.writes.delete(key);
    w.op.ret = this.now;
    w.op.output = { ok: true };
    this.busyClients.delete(w.client);
    this.stats.writesOk++;
  }

  /** Start a linearizable read (ReadIndex) from `client` through `via`. */
  read(client: number, via: NodeId, key: string, timeoutTicks = 40): boolean {
    const node = this.node(via);
    if (!node.raft || this.paused(node) || this.busyClients.has(client)) return false;
    const context = ++this.readContext;
    try {
      node.raft.readIndex(context);
    } catch (error) {
      if ((error as { code?: string }).code === undefined) throw error;
      return false;
    }
    this.reads.push({
      client,
      node: via,
      context,
      key,
      call: this.now,
      deadline: this.now + timeoutTicks * TICK,
    });
    this.busyClients.add(client);
    this.processReady(node);
    return true;
  }

  private serveReads(node: SimNode): void {
    if (node.readStates.length > 0) {
      for (const rs of node.readStates) {
        const r = this.reads.find((p) => p.context === rs.context && p.node === node.id);
        if (r && r.index === undefined) r.index = rs.index;
      }
      node.readStates = [];
    }
    const done: PendingRead[] = [];
    for (const r of this.reads) {
      if (r.node === node.id && r.index !== undefined && node.applied >= r.index) done.push(r);
    }
    if (done.length === 0) return;
    this.reads = this.reads.filter((r) => !done.includes(r));
    for (const r of done) {
      const output: KvOutput = { value: node.kv.get(r.key) };
      this.history.push({
        client: r.client,
        input: { op: 'get', key: r.key },
        call: r.call,
        ret: this.now,
        output,
      });
      this.busyClients.delete(r.client);
      this.stats.readsOk++;
    }
  }

  private expireClientOps(): void {
    for (const [key, w] of this.writes) {
      if (w.deadline <= this.now) {
        // The outcome is unknown: it stays in the history as pending (it may or may not apply).
        this.writes.delete(key);
        this.busyClients.delete(w.client);
        this.stats.timeouts++;
      }
    }
    const expired = this.reads.filter((r) => r.deadline <= this.now);
    if (expired.length > 0) {
      // A read with no answer had no effect: it leaves the history.
      this.reads = this.reads.filter((r) => r.deadline > this.now);
      for (const r of expired) this.busyClients.delete(r.client);
      this.stats.timeouts += expired.length;
    }
  }

  /** Abandon every client operation in flight (before a final check). */
  settleClients(): void {
    this.writes.clear();
    this.reads = [];
    this.busyClients.clear();
  }

  // ------------------------------------------------------------ final checks

  /** Log matching: if two logs hold an entry with the same index and term, they agree up to it. */
  checkLogMatching(): void {
    const ups = [...this.nodes.values()].filter((n) => n.raft);
    for (let i = 0; i < ups.length; i++) {
      for (let j = i + 1; j < ups.length; j++) {
        const a = ups[i]!.raft!.raft.log;
        const b = ups[j]!.raft!.raft.log;
        const lo = Math.max(a.firstIndex(), b.firstIndex());
        const hi = Math.min(a.lastIndex(), b.lastIndex());
        let matchedFrom = -1;
        for (let k = hi; k >= lo; k--) {
          if (a.term(k) === b.term(k)) {
            matchedFrom = k;
            break;
          }
        }
        for (let k = lo; k <= matchedFrom; k++) {
          const ea = a.slice(k, k + 1, Number.MAX_SAFE_INTEGER)[0]!;
          const eb = b.slice(k, k + 1, Number.MAX_SAFE_INTEGER)[0]!;
          if (ea.term !== eb.term || decoder.decode(ea.data) !== decoder.decode(eb.data)) {
            throw new SimViolation(`log matching broken between ${ups[i]!.id} and ${ups[j]!.id} at ${k}`);
          }
        }
      }
    }
  }

  /** All replicas that reached the same applied index hold the same state. */
  checkStateMachines(): void {
    const byIndex = new Map<number, string>();
    for (const node of this.nodes.values()) {
      if (!node.raft) continue;
      const state = JSON.stringify([...node.kv.entries()].sort());
      const known = byIndex.get(node.applied);
      if (known === undefined) byIndex.set(node.applied, state);
      else if (known !== state)
        throw new SimViolation(`state machines differ at applied index ${node.applied}`);
    }
  }
}
