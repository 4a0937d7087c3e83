/**
 * The data types of the Raft core. Everything here is plain data so that the transport can
 * frame it and the simulator can copy it.
 */

/** A member's id: a positive integer, unique in the cluster. 0 means "none". */
export type NodeId = number;
export const NONE: NodeId = 0;

/**
 * voter: replicates and votes. standby: replicates, does not vote (ready to be promoted).
 * spare: a known member that is not replicated (it only gets heartbeats, for liveness).
 */
export type Role = 'voter' | 'standby' | 'spare';

export interface Member {
  readonly id: NodeId;
  readonly role: Role;
}

/** The membership at a point of the log. Sorted by id. */
export interface ConfState {
  readonly members: readonly Member[];
}

/** One membership change: the only kind of change, applied one at a time through the log. */
export type ConfChange =
  | { readonly kind: 'set-role'; readonly id: NodeId; readonly role: Role }
  | { readonly kind: 'remove'; readonly id: NodeId };

export const EntryType = { Normal: 0, ConfChange: 1 } as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

export const MessageType = {
  App: 1,
  AppResp: 2,
  Vote: 3,
  VoteResp: 4,
  PreVote: 5,
  PreVoteResp: 6,
  Heartbeat: 7,
  HeartbeatResp: 8,
  Snap: 9,
  SnapResp: 10,
  /** A proposal forwarded by a follower to the leader (term 0). */
  Prop: 11,
  /** A read request forwarded by a follower to the leader (term 0). */
  ReadIndex: 12,
  ReadIndexResp: 13,
  /** A leadership transfer request forwarded to the leader (term 0). */
  TransferLeader: 14,
  /** The leader tells the transferee to campaign at once. */
  TimeoutNow: 15,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export function messageTypeName(type: MessageType): string {
  for (const [name, value] of Object.entries(MessageType)) if (value === type) return name;
  return `unknown(${type})`;
}

/**
 * One message between peers. Like etcd's, a single shape with optional fields keeps the framing
 * simple; each type uses a documented subset.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  /** 0 for the forwarded local requests (Prop, ReadIndex, TransferLeader). */
  readonly term: number;
  /** App: term of the entry before `entries`. Vote/PreVote: the candidate's last log term. */
  readonly logTerm?: number;
  /** App: index before `entries`. AppResp: the acknowledged (or rejected) index. Vote: last log index. ReadIndexResp: the read index. */
  readonly index?: number;
  readonly entries?: readonly Entry[];
  readonly commit?: number;
  readonly reject?: boolean;
  /** AppResp with reject: the follower's last index, so the leader can skip back at once. */
  readonly rejectHint?: number;
  /** Snap: the snapshot being sent, with one chunk of its data. */
  readonly snapshot?: SnapshotMeta;
  readonly chunk?: Uint8Array;
  /** Snap: offset of `chunk`; SnapResp: the next offset the follower expects. */
  readonly offset?: number;
  readonly totalBytes?: number;
  /** Heartbeat / HeartbeatResp: the leader's read sequence being confirmed. */
  readonly readSeq?: number;
  /** ReadIndex / ReadIndexResp: the requester's opaque read id. */
  readonly context?: number;
  /** Vote: a campaign started by a leadership transfer; it bypasses the leader lease. */
  readonly transfer?: boolean;
  /** TransferLeader: the requested new leader. */
  readonly target?: NodeId;
}

/** A linearizable read is safe once the state machine has applied `index`. */
export interface ReadState {
  readonly index: number;
  readonly context: number;
}

export type StateType = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

export interface SoftState {
  readonly leader: NodeId;
  readonly state: StateType;
}

/**
 * What the application must do, in this order:
 *  1. persist `hardState`, `entries` and `snapshot` (fsync);
 *  2. send `messages`;
 *  3. install `snapshot` into the state machine, then apply `committed` in order and serve the
 *     `readStates` whose index has been applied;
 *  4. call `advance(ready)`.
 * Only one Ready is out at a time; inputs (step, tick, propose) may arrive before advance.
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
  readonly committed: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
}

/** Seeded randomness injected into the core: it never reads a clock or Math.random. */
export interface Random {
  /** An integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
}
