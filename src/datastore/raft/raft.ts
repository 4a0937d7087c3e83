/**
 * The pure Raft state machine. It does no I/O and reads no clock: time is `tick()`, randomness
 * comes from the injected generator, and every output (messages, entries to persist, entries to
 * apply, read states) is collected for the RawNode's Ready.
 *
 * Features: pre-vote, check-quorum (with leader lease for votes), pipelined replication with a
 * bounded inflight window, ReadIndex (also on followers), leadership transfer, chunked snapshots,
 * and membership with voter / standby / spare roles changed one at a time through the log.
 */
import { assert } from '../../lib/assert.js';
import { MicroK8sError } from '../../lib/errors.js';
import { type RaftLimits, validateRaftLimits } from './limits.js';
import { RaftLog } from './log.js';
import {
  applyConfChange,
  decodeConfChange,
  describeConf,
  encodeConfChange,
  quorum,
  roleOf,
  validateConfState,
  voters,
} from './membership.js';
import { Progress } from './progress.js';
import { entrySize, type RaftStorage } from './storage.js';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  NONE,
  type NodeId,
  type Random,
  type ReadState,
  type Role,
  type Snapshot,
  type SnapshotMeta,
  type StateType,
} from './types.js';

export interface RaftConfig {
  readonly id: NodeId;
  readonly storage: RaftStorage;
  readonly random: Random;
  /** Ticks without a leader before a follower campaigns (randomised in [n, 2n)). Default 10. */
  readonly electionTicks?: number;
  /** Ticks between a leader's heartbeats. Default 1. */
  readonly heartbeatTicks?: number;
  /** The index the state machine has already applied (it survives restarts). */
  readonly applied?: number;
  readonly limits?: Partial<RaftLimits>;
  /**
   * Lease reads: a monotonic clock (ms, or the simulator's time) and how long after sending a
   * heartbeat that a quorum of voters acknowledged the leader may answer reads from its own
   * commit index, without a round of heartbeats. Safe because a voter that heard from the leader
   * refuses other candidates for one election timeout (and so does a voter that just started);
   * it must stay below that timeout by a margin for clock rate drift and timer granularity
   * (the driver uses electionTicks - 2 ticks). Off when either is missing or leaseReadMs is 0.
   */
  readonly now?: () => number;
  readonly leaseReadMs?: number;
}

/** Heartbeat stamps kept for lease reads at most (older ones are only ever needed by a lagging voter). */
const MAX_HEARTBEAT_STAMPS = 1024;

export interface ProgressStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly match: number;
  readonly next: number;
  readonly state: string;
  /** Ticks since the leader last heard from this member. */
  readonly ticksSinceHeard: number;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly leader: NodeId;
  readonly state: StateType;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly conf: ConfState;
  readonly leadTransferee: NodeId;
  /** Leader only. */
  readonly progress: readonly ProgressStatus[];
}

interface PendingRead {
  readonly seq: number;
  readonly index: number;
  readonly from: NodeId;
  readonly context: number;
}

interface SnapshotReceive {
  readonly meta: SnapshotMeta;
  readonly total: number;
  readonly parts: Uint8Array[];
  received: number;
}

type SendArgs = Omit<Message, 'from' | 'term'> & { term?: number };

const LOCAL_TYPES: ReadonlySet<number> = new Set([
  MessageType.Prop,
  MessageType.ReadIndex,
  MessageType.TransferLeader,
]);
const NO_ENTRIES: readonly Entry[] = [];
/** Entries read per page while scanning the log for membership changes at start-up. */
const STARTUP_SCAN_PAGE_BYTES = 16 * 1024 * 1024;

export class Raft {
  readonly id: NodeId;
  readonly log: RaftLog;
  readonly limits: RaftLimits;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  private readonly random: Random;

  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  state: StateType = 'follower';
  /** The membership in effect: the committed one plus every change still pending in the log. */
  conf: ConfState;
  /** The membership as of the commit index. */
  private committedConf: ConfState;

  /** Outputs, taken by the RawNode. */
  msgs: Message[] = [];
  readStates: ReadState[] = [];

  private prs = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** Monotonic count of ticks since start; only differences matter. */
  private tickCount = 0;
  leadTransferee: NodeId = NONE;
  /** Index of the latest membership change in the log; no other may be proposed before it commits. */
  private pendingConfIndex = 0;
  /** Membership changes in the log that are not committed yet, ascending. */
  private pendingConfs: { index: number; change: ConfChange }[] = [];
  /** Leader: bytes of proposed entries not yet committed, as (last index, bytes) batches. */
  private uncommitted: { index: number; bytes: number }[] = [];
  private uncommittedBytes = 0;
  private readSeq = 0;
  private reads: PendingRead[] = [];
  private readonly now: (() => number) | undefined;
  private readonly leaseReadMs: number;
  /** When each heartbeat round (its readSeq) was sent, ascending: the start of a lease. */
  private heartbeatStamps: { seq: number; at: number }[] = [];
  /**
   * Set once this leader sent TimeoutNow: the transferee may win without waiting out our lease.
   * It stays set for the rest of the term even when the transfer times out, because a delayed
   * TimeoutNow may still arrive and start that campaign; reads then go through ReadIndex.
   */
  private leaseRevoked = false;
  /** Reads that arrived before the leader committed an entry of its term. */
  private readsBeforeCommit: { from: NodeId; context: number }[] = [];
  private snapshotReceive: SnapshotReceive | undefined;

  constructor(config: RaftConfig) {
    assert(Number.isInteger(config.id) && config.id > 0, 'raft id must be a positive integer');
    this.id = config.id;
    this.random = config.random;
    this.electionTicks = config.electionTicks ?? 10;
    this.heartbeatTicks = config.heartbeatTicks ?? 1;
    if (!(this.heartbeatTicks >= 1 && this.electionTicks > this.heartbeatTicks)) {
      throw new MicroK8sError('MK_INVALID_CONFIG', 'electionTicks must be greater than heartbeatTicks >= 1');
    }
    this.limits = validateRaftLimits(config.limits);
    this.log = new RaftLog(config.storage, this.limits.maxApplyBytes);
    this.now = config.now;
    this.leaseReadMs = config.leaseReadMs ?? 0;
    if (!(Number.isFinite(this.leaseReadMs) && this.leaseReadMs >= 0)) {
      throw new MicroK8sError('MK_INVALID_CONFIG', 'leaseReadMs must be a non-negative number');
    }

    const { hardState, snapshotConf } = config.storage.initialState();
    validateConfState(snapshotConf);
    this.conf = snapshotConf;
    this.committedConf = snapshotConf;
    assert(hardState.commit <= this.log.lastIndex(), 'persisted commit beyond the persisted log');
    // The commit index is volatile in Raft: whatever the state machine applied was committed, so
    // the application may skip the fsync of a Ready that only moves the commit index.
    const applied = config.applied ?? 0;
    assert(applied <= this.log.lastIndex(), 'applied index beyond the persisted log');
    this.log.committed = Math.max(this.log.committed, hardState.commit, applied);
    this.recoverMembership(config.storage);
    if (applied > this.log.applied) this.log.applied = applied;
    this.becomeFollower(hardState.term, NONE);
    this.vote = hardState.vote;
  }

  /** Re-derive the membership from the snapshot plus the changes in the persisted log. */
  private recoverMembership(storage: RaftStorage): void {
    let lo = storage.firstIndex();
    const hi = storage.lastIndex() + 1;
    while (lo < hi) {
      const page = storage.entries(lo, hi, STARTUP_SCAN_PAGE_BYTES);
      for (const e of page) this.trackConfEntry(e);
      lo += page.length;
    }
    this.activateCommittedConfs();
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    this.tickCount++;
    if (this.state === 'leader') this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign('pre');
    } else if (!this.promotable() && this.lead !== NONE && this.electionElapsed >= this.electionTicks) {
      // A standby or spare never campaigns, so it would otherwise keep a leader it cannot reach
      // and forward requests into the void. Forgetting it makes the node answer "no leader" (as a
      // voter does once it starts a pre-vote) until a leader's message arrives again.
      this.lead = NONE;
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.leadTransferee !== NONE) this.leadTransferee = NONE; // the transfer timed out
    }
    // Check-quorum, every tick: a leader that has not heard from a majority of voters within one
    // election timeout steps down, so a partitioned leader stops within about that long.
    if (!this.quorumActive()) {
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  /** Propose entries; returns the index of the last one. Followers forward to the leader. */
  propose(datas: readonly Uint8Array[]): number {
    if (datas.length === 0 || datas.length > this.limits.maxProposalEntries) {
      throw new MicroK8sError(
        'MK_LIMIT_EXCEEDED',
        `a proposal carries 1 to ${this.limits.maxProposalEntries} entries, got ${datas.length}`,
      );
    }
    if (this.state !== 'leader') {
      if (this.lead === NONE) throw new MicroK8sError('MK_NO_LEADER', 'etcdserver: no leader');
      const entries = datas.map((data) => ({ term: 0, index: 0, type: EntryType.Normal, data }));
      this.send({ type: MessageType.Prop, to: this.lead, term: 0, entries });
      return 0;
    }
    return this.appendProposal(datas.map((data) => ({ type: EntryType.Normal, data })));
  }

  private appendProposal(items: readonly { type: Entry['type']; data: Uint8Array }[]): number {
    if (this.leadTransferee !== NONE) {
      throw new MicroK8sError(
        'MK_TRANSFER_IN_PROGRESS',
        `leadership is being transferred to ${this.leadTransferee}`,
      );
    }
    let bytes = 0;
    const first = this.log.lastIndex() + 1;
    const entries: Entry[] = items.map((item, i) => {
      const e = { term: this.term, index: first + i, type: item.type, data: item.data };
      bytes += entrySize(e);
      return e;
    });
    if (bytes > this.limits.maxMsgBytes * 4 && entries.length === 1) {
      throw new MicroK8sError('MK_LIMIT_EXCEEDED', `an entry of ${bytes} bytes is larger than the limit`);
    }
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.limits.maxUncommittedBytes) {
      throw new MicroK8sError(
        'MK_PROPOSAL_DROPPED',
        `too many uncommitted bytes (${this.uncommittedBytes}); retry later`,
        {
          limit: 'raft.maxUncommittedBytes',
        },
      );
    }
    const last = this.appendEntries(entries);
    this.uncommitted.push({ index: last, bytes });
    this.uncommittedBytes += bytes;
    this.bcastAppend();
    return last;
  }

  /** Leader: append entries of its own term and count its own acknowledgement. */
  private appendEntries(entries: Entry[]): number {
    const last = this.log.append(entries);
    for (const e of entries) this.trackConfEntry(e);
    this.prs.get(this.id)?.maybeUpdate(last);
    this.maybeCommit();
    return last;
  }

  /** Propose one membership change; the leader validates it and returns its log index. */
  proposeConfChange(change: ConfChange): number {
    if (this.state !== 'leader') {
      throw new MicroK8sError('MK_NOT_LEADER', 'membership changes are proposed on the leader', {
        leader: this.lead,
      });
    }
    const reason = this.unsafeConfChange(change);
    if (reason !== undefined) {
      throw new MicroK8sError('MK_UNSAFE_MEMBERSHIP_CHANGE', `refused ${JSON.stringify(change)}: ${reason}`, {
        change,
      });
    }
    const index = this.appendProposal([{ type: EntryType.ConfChange, data: encodeConfChange(change) }]);
    this.pendingConfIndex = index;
    return index;
  }

  /** Why a change is unsafe now, or undefined if it may go ahead. */
  unsafeConfChange(change: ConfChange): string | undefined {
    if (!(Number.isInteger(change.id) && change.id > 0)) return `invalid member id ${change.id}`;
    if (this.pendingConfIndex > this.log.committed) {
      return `the membership change at index ${this.pendingConfIndex} is not committed yet (one change at a time)`;
    }
    const current = roleOf(this.conf, change.id);
    if (change.kind === 'remove' && current === undefined) return `${change.id} is not a member`;
    if (change.kind === 'set-role' && current === change.role)
      return `${change.id} is already a ${change.role}`;
    if (change.id === this.id && (change.kind === 'remove' || change.role !== 'voter')) {
      return 'the leader cannot demote or remove itself; transfer leadership first';
    }
    if (change.kind === 'set-role' && change.role === 'voter') {
      const pr = this.prs.get(change.id);
      if (current !== 'standby' || pr === undefined)
        return `${change.id} must be a replicating standby before it becomes a voter`;
      if (pr.match < this.log.committed) {
        return `${change.id} has not caught up (match ${pr.match} < commit ${this.log.committed})`;
      }
      if (!this.isActive(change.id)) return `${change.id} has not been heard from recently`;
    }
    const next = applyConfChange(this.conf, change);
    const nextVoters = voters(next);
    if (nextVoters.length === 0) return 'the cluster would have no voter';
    const reachable = nextVoters.filter((id) => this.isActive(id)).length;
    if (reachable < quorum(nextVoters.length)) {
      return `it would leave no quorum: only ${reachable} of ${nextVoters.length} voters are reachable`;
    }
    return undefined;
  }

  /** Ask for a linearizable read; a ReadState with `context` follows once it is safe. */
  readIndex(context: number): void {
    if (this.state === 'leader') {
      this.handleReadIndex(this.id, context);
    } else if (this.lead !== NONE) {
      this.send({ type: MessageType.ReadIndex, to: this.lead, term: 0, context });
    } else {
      throw new MicroK8sError('MK_NO_LEADER', 'etcdserver: no leader');
    }
  }

  transferLeadership(target: NodeId): void {
    if (roleOf(this.conf, target) !== 'voter') {
      throw new MicroK8sError('MK_INVALID_ARGUMENT', `${target} is not a voter and cannot lead`);
    }
    if (this.state === 'leader') this.handleTransfer(target);
    else if (this.lead !== NONE)
      this.send({ type: MessageType.TransferLeader, to: this.lead, term: 0, target });
    else throw new MicroK8sError('MK_NO_LEADER', 'etcdserver: no leader');
  }

  /** Start an election now (used by tests and by an operator's "campaign"). */
  campaignNow(): void {
    if (this.state !== 'leader') this.campaign('pre');
  }

  // ---------------------------------------------------------------- step

  step(m: Message): void {
    assert(m.to === this.id, () => `message for ${m.to} delivered to ${this.id}`);
    if (m.from === this.id) return;
    if (LOCAL_TYPES.has(m.type)) {
      this.stepForwarded(m);
      return;
    }
    if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        // Leader lease: while we hear from a leader, a (pre-)vote from a node that is merely cut off
        // must not disturb the cluster. A transfer's campaign is deliberate and goes through.
        // A node that has just started counts as in a lease too: before its crash it may have
        // acknowledged a leader's heartbeat that the leader still counts on for lease reads.
        const inLease =
          (this.lead !== NONE && this.electionElapsed < this.electionTicks) ||
          this.tickCount < this.electionTicks;
        if (!m.transfer && inLease) return;
      }
      if (m.type === MessageType.PreVote || (m.type === MessageType.PreVoteResp && !m.reject)) {
        // A pre-vote does not change our term; a granted pre-vote answer carries the future term.
      } else if (
        m.type === MessageType.App ||
        m.type === MessageType.Heartbeat ||
        m.type === MessageType.Snap
      ) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        // Tell a stale leader about the newer term so it steps down.
        this.send({ type: MessageType.AppResp, to: m.from });
      } else if (m.type === MessageType.PreVote) {
        this.send({ type: MessageType.PreVoteResp, to: m.from, reject: true });
      }
      return;
    }

    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.state) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  private stepForwarded(m: Message): void {
    if (this.state !== 'leader') {
      // Pass it on if we know a leader; otherwise drop it: the requester times out and retries.
      if (this.lead !== NONE && this.lead !== m.from) this.send({ ...m, to: this.lead, term: 0 });
      return;
    }
    switch (m.type) {
      case MessageType.Prop:
        if (this.leadTransferee !== NONE || !m.entries || m.entries.length === 0) return;
        try {
          this.appendProposal(m.entries.map((e) => ({ type: EntryType.Normal, data: e.data })));
        } catch (error) {
          // Dropped like a lost message: the proposer's timeout covers it.
          if (!(error instanceof MicroK8sError)) throw error;
        }
        return;
      case MessageType.ReadIndex:
        this.handleReadIndex(m.from, m.context ?? 0);
        return;
      case MessageType.TransferLeader:
        if (m.target !== undefined && roleOf(this.conf, m.target) === 'voter') this.handleTransfer(m.target);
        return;
    }
  }

  private handleVoteRequest(m: Message): void {
    const pre = m.type === MessageType.PreVote;
    const respType = pre ? MessageType.PreVoteResp : MessageType.VoteResp;
    const canVote =
      this.vote === m.from || (this.vote === NONE && this.lead === NONE) || (pre && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.index ?? 0, m.logTerm ?? 0)) {
      this.send({ type: respType, to: m.from, term: m.term, reject: false });
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true });
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        break;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        break;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshotChunk(m);
        break;
      case MessageType.TimeoutNow:
        if (this.promotable()) this.campaign('real', true);
        break;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index ?? 0, context: m.context ?? 0 });
        break;
    }
  }

  private stepCandidate(m: Message): void {
    const respType = this.state === 'pre-candidate' ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.App:
      case MessageType.Heartbeat:
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case respType: {
        const result = this.poll(m.from, !m.reject);
        if (result === 'won') {
          if (this.state === 'pre-candidate') this.campaign('real');
          else this.becomeLeader();
        } else if (result === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    if (pr === undefined) return; // not a member (any more)
    pr.lastHeardTick = this.tickCount;
    switch (m.type) {
      case MessageType.AppResp:
        this.handleAppendResponse(m, pr);
        break;
      case MessageType.HeartbeatResp:
        this.handleHeartbeatResponse(m, pr);
        break;
      case MessageType.SnapResp:
        this.handleSnapshotResponse(m, pr);
        break;
    }
  }

  // ---------------------------------------------------------------- follower side

  private handleAppend(m: Message): void {
    const index = m.index ?? 0;
    const entries = m.entries ?? NO_ENTRIES;
    if (index < this.log.committed) {
      this.send({ type: MessageType.AppResp, to: m.from, index: this.log.committed });
      return;
    }
    if (!this.log.matchTerm(index, m.logTerm ?? 0)) {
      this.send({
        type: MessageType.AppResp,
        to: m.from,
        index,
        reject: true,
        rejectHint: this.log.lastIndex(),
      });
      return;
    }
    const lastNew = index + entries.length;
    const conflict = this.log.findConflict(entries);
    if (conflict !== 0) {
      assert(
        conflict > this.log.committed,
        () => `leader ${m.from} conflicts with committed entry ${conflict}`,
      );
      const fresh = entries.slice(conflict - (index + 1));
      this.truncatePendingConfs(conflict);
      for (const e of fresh) this.trackConfEntry(e);
      this.log.append(fresh);
    }
    this.commitTo(Math.min(m.commit ?? 0, lastNew));
    this.send({ type: MessageType.AppResp, to: m.from, index: lastNew });
  }

  private handleHeartbeat(m: Message): void {
    this.commitTo(Math.min(m.commit ?? 0, this.log.lastIndex()));
    this.send({ type: MessageType.HeartbeatResp, to: m.from, readSeq: m.readSeq ?? 0 });
  }

  private handleSnapshotChunk(m: Message): void {
    const meta = m.snapshot;
    assert(
      meta !== undefined && m.chunk !== undefined && m.offset !== undefined && m.totalBytes !== undefined,
      'Snap without its fields',
    );
    if (meta.index <= this.log.committed) {
      this.snapshotReceive = undefined;
      this.send({ type: MessageType.AppResp, to: m.from, index: this.log.committed });
      return;
    }
    let recv = this.snapshotReceive;
    if (recv === undefined || recv.meta.index !== meta.index || recv.meta.term !== meta.term) {
      recv = { meta, total: m.totalBytes, parts: [], received: 0 };
      this.snapshotReceive = recv;
    }
    if (m.offset !== recv.received) {
      // A gap (a chunk was lost) asks the leader to resend from what we have; a duplicate is ignored.
      const gap = m.offset > recv.received;
      this.send({
        type: MessageType.SnapResp,
        to: m.from,
        index: meta.index,
        offset: recv.received,
        reject: gap,
      });
      return;
    }
    recv.parts.push(m.chunk.slice());
    recv.received += m.chunk.byteLength;
    assert(recv.received <= recv.total, 'snapshot chunks beyond the announced size');
    if (recv.received < recv.total) {
      this.send({ type: MessageType.SnapResp, to: m.from, index: meta.index, offset: recv.received });
      return;
    }
    this.snapshotReceive = undefined;
    const data = new Uint8Array(recv.total);
    let at = 0;
    for (const part of recv.parts) {
      data.set(part, at);
      at += part.byteLength;
    }
    const installed = this.restore({ meta, data });
    this.send({
      type: MessageType.AppResp,
      to: m.from,
      index: installed ? this.log.lastIndex() : this.log.committed,
    });
  }

  /** Install a snapshot from the leader; false if our log already covers it. */
  private restore(snapshot: Snapshot): boolean {
    const { index, term } = snapshot.meta;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      this.commitTo(index); // fast-forward: we hold the entries already
      return false;
    }
    validateConfState(snapshot.meta.conf);
    this.log.restore(snapshot);
    this.conf = snapshot.meta.conf;
    this.committedConf = snapshot.meta.conf;
    this.pendingConfs = [];
    return true;
  }

  // ---------------------------------------------------------------- leader side

  private handleAppendResponse(m: Message, pr: Progress): void {
    const index = m.index ?? 0;
    if (m.reject) {
      if (pr.maybeDecrTo(index, m.rejectHint ?? 0)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(index)) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot') {
      if (pr.transfer && pr.match >= pr.transfer.snapshot.meta.index) pr.becomeProbe();
    } else {
      pr.inflights.freeTo(index);
    }
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else if (wasPaused) {
      this.sendAppend(m.from);
    }
    // Fill the pipeline while the window allows.
    while (this.sendAppend(m.from, false)) {
      /* keep sending */
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.sendTimeoutNow(m.from);
    }
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    if (pr.state === 'probe') pr.probeSent = false;
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.state === 'snapshot' && pr.transfer) {
      // Nothing confirmed since the last heartbeat: chunks were lost; resend from the last one confirmed.
      const t = pr.transfer;
      if (t.acked === t.ackedAtLastHeartbeat && (t.sent > t.acked || !t.started)) {
        t.sent = t.acked;
        t.started = t.acked > 0;
        this.sendSnapshotChunks(m.from, pr);
      }
      t.ackedAtLastHeartbeat = t.acked;
    } else if (pr.match < this.log.lastIndex()) {
      this.sendAppend(m.from);
    }
    const seq = m.readSeq ?? 0;
    if (seq > pr.readAck) {
      pr.readAck = seq;
      this.releaseReads();
    }
  }

  private handleSnapshotResponse(m: Message, pr: Progress): void {
    const t = pr.transfer;
    if (pr.state !== 'snapshot' || t === undefined || m.index !== t.snapshot.meta.index) return;
    const offset = m.offset ?? 0;
    if (m.reject) {
      t.sent = offset;
      t.acked = offset;
      t.started = offset > 0;
    } else if (offset > t.acked) {
      t.acked = offset;
    }
    this.sendSnapshotChunks(m.from, pr);
  }

  /** Send entries (or a snapshot) to `to`; returns whether a message went out. */
  private sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.prs.get(to);
    if (pr === undefined || to === this.id || pr.isPaused()) return false;
    if (roleOf(this.conf, to) === 'spare' && pr.match >= pr.spareUntil) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) {
      // The entries it needs are compacted: send the snapshot.
      pr.becomeSnapshot(this.log.snapshot());
      this.sendSnapshotChunks(to, pr);
      return true;
    }
    const last = this.log.lastIndex();
    const entries = pr.next <= last ? this.log.slice(pr.next, last + 1, this.limits.maxMsgBytes) : NO_ENTRIES;
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({
      type: MessageType.App,
      to,
      index: prevIndex,
      logTerm: prevTerm,
      entries,
      commit: this.log.committed,
    });
    if (pr.state === 'replicate' && entries.length > 0) {
      const lastSent = entries[entries.length - 1]!.index;
      pr.next = lastSent + 1;
      pr.inflights.add(lastSent);
    } else if (pr.state === 'probe') {
      pr.probeSent = true;
    }
    return true;
  }

  private sendSnapshotChunks(to: NodeId, pr: Progress): void {
    const t = pr.transfer;
    assert(t !== undefined, 'no snapshot transfer');
    const data = t.snapshot.data;
    const chunk = this.limits.snapshotChunkBytes;
    const window = chunk * this.limits.maxInflightSnapshotChunks;
    while ((t.sent < data.byteLength || !t.started) && t.sent - t.acked < window) {
      const end = Math.min(data.byteLength, t.sent + chunk);
      this.send({
        type: MessageType.Snap,
        to,
        snapshot: t.snapshot.meta,
        offset: t.sent,
        chunk: data.subarray(t.sent, end),
        totalBytes: data.byteLength,
      });
      t.sent = end;
      t.started = true;
      if (data.byteLength === 0) break;
    }
  }

  private bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id);
  }

  /** A round of heartbeats: a new readSeq, stamped with the time for lease reads. */
  private bcastHeartbeat(): void {
    this.readSeq++;
    const self = this.prs.get(this.id);
    if (self) self.readAck = this.readSeq;
    if (this.now !== undefined && this.leaseReadMs > 0) this.stampHeartbeat(this.readSeq, this.now());
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      this.send({
        type: MessageType.Heartbeat,
        to: id,
        commit: Math.min(pr.match, this.log.committed),
        readSeq: this.readSeq,
      });
    }
  }

  /** Advance the commit index to what a quorum of voters holds, if it is of this term. */
  private maybeCommit(): boolean {
    const ids = voters(this.conf);
    if (ids.length === 0) return false;
    const matches = ids.map((id) => this.prs.get(id)?.match ?? 0).sort((a, b) => b - a);
    const candidate = matches[quorum(ids.length) - 1]!;
    if (candidate > this.log.committed && this.log.term(candidate) === this.term) {
      this.commitTo(candidate);
      return true;
    }
    return false;
  }

  private handleReadIndex(from: NodeId, context: number): void {
    if (this.log.term(this.log.committed) !== this.term) {
      // Until an entry of this term commits, our commit index may be behind the true one.
      if (this.readsBeforeCommit.length >= this.limits.maxPendingReads) return;
      this.readsBeforeCommit.push({ from, context });
      return;
    }
    if (quorum(voters(this.conf).length) === 1) {
      this.deliverRead({ seq: 0, index: this.log.committed, from, context });
      return;
    }
    if (this.leaseHolds()) {
      this.deliverRead({ seq: 0, index: this.log.committed, from, context });
      return;
    }
    if (this.reads.length >= this.limits.maxPendingReads) {
      if (from === this.id) throw new MicroK8sError('MK_LIMIT_EXCEEDED', 'too many pending reads');
      return;
    }
    // Confirmed by the acknowledgements of the heartbeat round sent right now.
    this.reads.push({ seq: this.readSeq + 1, index: this.log.committed, from, context });
    this.bcastHeartbeat();
  }

  private stampHeartbeat(seq: number, at: number): void {
    const stamps = this.heartbeatStamps;
    // Rounds every voter has acknowledged past are never looked up again.
    const oldestAck = Math.min(...voters(this.conf).map((id) => this.prs.get(id)?.readAck ?? 0));
    let drop = 0;
    while (drop < stamps.length && stamps[drop]!.seq < oldestAck) drop++;
    if (stamps.length - drop >= MAX_HEARTBEAT_STAMPS) drop = stamps.length - MAX_HEARTBEAT_STAMPS + 1;
    if (drop > 0) stamps.splice(0, drop);
    stamps.push({ seq, at });
  }

  /**
   * Whether this leader may answer a read from its commit index now: a quorum of voters (itself
   * included) acknowledged a heartbeat round sent less than leaseReadMs ago, and no transfer is
   * under way. Each of those voters refuses other candidates until one election timeout after it
   * received that round, which is later than it was sent.
   */
  private leaseHolds(): boolean {
    if (this.now === undefined || this.leaseReadMs === 0) return false;
    if (this.leaseRevoked || this.leadTransferee !== NONE) return false;
    const ids = voters(this.conf);
    const acks = ids
      .map((id) => (id === this.id ? this.readSeq : (this.prs.get(id)?.readAck ?? 0)))
      .sort((a, b) => b - a);
    const confirmed = acks[quorum(ids.length) - 1] ?? 0;
    if (confirmed === 0) return false;
    // The round a quorum confirmed is almost always one of the latest: search from the end.
    for (let i = this.heartbeatStamps.length - 1; i >= 0; i--) {
      const stamp = this.heartbeatStamps[i]!;
      if (stamp.seq === confirmed) return this.now() < stamp.at + this.leaseReadMs;
      if (stamp.seq < confirmed) break;
    }
    return false;
  }

  private sendTimeoutNow(to: NodeId): void {
    this.leaseRevoked = true;
    this.send({ type: MessageType.TimeoutNow, to });
  }

  /** Release the reads that a quorum of voters confirmed by answering a later heartbeat. */
  private releaseReads(): void {
    if (this.reads.length === 0) return;
    const ids = voters(this.conf);
    const acks = ids
      .map((id) => (id === this.id ? Number.POSITIVE_INFINITY : (this.prs.get(id)?.readAck ?? 0)))
      .sort((a, b) => b - a);
    const confirmed = acks[quorum(ids.length) - 1] ?? 0;
    let n = 0;
    while (n < this.reads.length && this.reads[n]!.seq <= confirmed) this.deliverRead(this.reads[n++]!);
    if (n > 0) this.reads.splice(0, n);
  }

  private deliverRead(read: PendingRead): void {
    if (read.from === this.id) this.readStates.push({ index: read.index, context: read.context });
    else
      this.send({ type: MessageType.ReadIndexResp, to: read.from, index: read.index, context: read.context });
  }

  private handleTransfer(target: NodeId): void {
    if (target === this.id || target === this.leadTransferee) return;
    const pr = this.prs.get(target);
    if (pr === undefined) return;
    this.leadTransferee = target;
    this.electionElapsed = 0; // the transfer must finish within one election timeout
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(target);
    else this.sendAppend(target);
  }

  private isActive(id: NodeId): boolean {
    if (id === this.id) return true;
    const pr = this.prs.get(id);
    return pr !== undefined && this.tickCount - pr.lastHeardTick < this.electionTicks;
  }

  private quorumActive(): boolean {
    const ids = voters(this.conf);
    return ids.filter((id) => this.isActive(id)).length >= quorum(ids.length);
  }

  // ---------------------------------------------------------------- commit and membership

  private commitTo(index: number): void {
    if (!this.log.commitTo(index)) return;
    this.activateCommittedConfs();
    while (this.uncommitted.length > 0 && this.uncommitted[0]!.index <= this.log.committed) {
      this.uncommittedBytes -= this.uncommitted.shift()!.bytes;
    }
    if (
      this.state === 'leader' &&
      this.readsBeforeCommit.length > 0 &&
      this.log.term(this.log.committed) === this.term
    ) {
      const waiting = this.readsBeforeCommit;
      this.readsBeforeCommit = [];
      for (const r of waiting) this.handleReadIndex(r.from, r.context);
    }
  }

  /**
   * A membership change takes effect as soon as it is in the log, committed or not (Raft thesis
   * §4.1): with one change at a time this is safe, and a node that forgot the commit index in a
   * crash still uses the membership its log says, instead of an older one nobody else uses.
   */
  private trackConfEntry(e: Entry): void {
    if (e.type !== EntryType.ConfChange) return;
    this.pendingConfs.push({ index: e.index, change: decodeConfChange(e.data) });
    this.pendingConfIndex = Math.max(this.pendingConfIndex, e.index);
    this.recomputeConf();
  }

  /** Entries from `from` on were overwritten: their membership changes are undone. */
  private truncatePendingConfs(from: number): void {
    const before = this.pendingConfs.length;
    this.pendingConfs = this.pendingConfs.filter((p) => p.index < from);
    if (this.pendingConfs.length !== before) this.recomputeConf();
  }

  private recomputeConf(): void {
    let conf = this.committedConf;
    for (const p of this.pendingConfs) conf = applyConfChange(conf, p.change);
    const previous = this.conf;
    this.conf = conf;
    if (this.state === 'leader') this.onLeaderConfChange(previous);
  }

  /** Committed changes move into the committed membership (the membership in effect is unchanged). */
  private activateCommittedConfs(): void {
    while (this.pendingConfs.length > 0 && this.pendingConfs[0]!.index <= this.log.committed) {
      const { change } = this.pendingConfs.shift()!;
      this.committedConf = applyConfChange(this.committedConf, change);
    }
  }

  private onLeaderConfChange(previous: ConfState): void {
    const last = this.log.lastIndex();
    for (const m of this.conf.members) {
      if (!this.prs.has(m.id))
        this.prs.set(m.id, new Progress(last + 1, this.limits.maxInflightMsgs, this.tickCount));
      // Demoted to spare: replicate up to the demotion so that the member learns of it.
      if (m.role === 'spare' && roleOf(previous, m.id) !== 'spare') this.prs.get(m.id)!.spareUntil = last;
    }
    for (const id of [...this.prs.keys()]) if (roleOf(this.conf, id) === undefined) this.prs.delete(id);
    if (roleOf(this.conf, this.id) !== 'voter') {
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.leadTransferee !== NONE && roleOf(this.conf, this.leadTransferee) !== 'voter')
      this.leadTransferee = NONE;
    if (this.maybeCommit()) this.bcastAppend();
    this.releaseReads();
  }

  // ---------------------------------------------------------------- state changes

  private promotable(): boolean {
    return roleOf(this.conf, this.id) === 'voter';
  }

  private reset(term: number): void {
    if (this.term !== term) {
      assert(term > this.term, () => `term going back from ${this.term} to ${term}`);
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + this.random.int(this.electionTicks);
    this.leadTransferee = NONE;
    this.votes = new Map();
    this.prs = new Map();
    this.uncommitted = [];
    this.uncommittedBytes = 0;
    this.reads = [];
    this.readsBeforeCommit = [];
    this.heartbeatStamps = [];
    this.leaseRevoked = false;
  }

  private becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.state = 'follower';
    this.lead = lead;
  }

  private becomeLeader(): void {
    assert(this.state === 'candidate', 'only a candidate becomes leader');
    this.reset(this.term);
    this.state = 'leader';
    this.lead = this.id;
    const last = this.log.lastIndex();
    for (const m of this.conf.members) {
      const pr = new Progress(last + 1, this.limits.maxInflightMsgs, this.tickCount);
      if (m.id === this.id) pr.match = last;
      this.prs.set(m.id, pr);
    }
    // No membership change until everything before our term is committed (with our empty entry).
    this.pendingConfIndex = last;
    this.appendEntries([
      { term: this.term, index: last + 1, type: EntryType.Normal, data: new Uint8Array(0) },
    ]);
    // A new leader does not know what its spares have seen: each is brought up to its first entry.
    for (const m of this.conf.members) if (m.role === 'spare') this.prs.get(m.id)!.spareUntil = last + 1;
    this.bcastAppend();
  }

  private campaign(kind: 'pre' | 'real', transfer = false): void {
    if (!this.promotable()) return;
    let voteType: MessageType;
    let term: number;
    if (kind === 'pre') {
      this.state = 'pre-candidate';
      this.votes = new Map();
      this.lead = NONE;
      this.randomizedElectionTimeout = this.electionTicks + this.random.int(this.electionTicks);
      voteType = MessageType.PreVote;
      term = this.term + 1;
    } else {
      this.reset(this.term + 1);
      this.vote = this.id;
      this.state = 'candidate';
      voteType = MessageType.Vote;
      term = this.term;
    }
    if (this.poll(this.id, true) === 'won') {
      if (kind === 'pre') this.campaign('real', transfer);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const logTerm = this.log.lastTerm();
    for (const id of voters(this.conf)) {
      if (id === this.id) continue;
      this.send({
        type: voteType,
        to: id,
        term,
        index: lastIndex,
        logTerm,
        ...(transfer ? { transfer: true } : {}),
      });
    }
  }

  private poll(id: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    const ids = voters(this.conf);
    if (!ids.includes(id)) return 'pending';
    if (!this.votes.has(id)) this.votes.set(id, granted);
    let yes = 0;
    let no = 0;
    for (const v of ids) {
      const vote = this.votes.get(v);
      if (vote === true) yes++;
      else if (vote === false) no++;
    }
    const q = quorum(ids.length);
    if (yes >= q) return 'won';
    if (no > ids.length - q) return 'lost';
    return 'pending';
  }

  private send(args: SendArgs): void {
    const term = args.term ?? (LOCAL_TYPES.has(args.type) ? 0 : this.term);
    this.msgs.push({ ...args, from: this.id, term });
  }

  // ---------------------------------------------------------------- status

  status(): RaftStatus {
    const progress: ProgressStatus[] = [];
    if (this.state === 'leader') {
      for (const [id, pr] of this.prs) {
        progress.push({
          id,
          role: roleOf(this.conf, id) ?? 'spare',
          match: pr.match,
          next: pr.next,
          state: pr.state,
          ticksSinceHeard: id === this.id ? 0 : this.tickCount - pr.lastHeardTick,
        });
      }
    }
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      leader: this.lead,
      state: this.state,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      conf: this.conf,
      leadTransferee: this.leadTransferee,
      progress,
    };
  }

  describe(): string {
    return `${this.id} ${this.state} term=${this.term} lead=${this.lead} commit=${this.log.committed} last=${this.log.lastIndex()} conf=${describeConf(this.conf)}`;
  }
}
