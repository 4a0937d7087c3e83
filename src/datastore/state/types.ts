/**
 * The contract of the replicated key-value state machine: the commands that go through the Raft
 * log, the read requests served locally, and the results. The semantics are etcd v3's (keys and
 * values are bytes, revisions are global and assigned by apply order, each key has create
 * revision, mod revision and version), so the etcd API layer is a thin translation.
 */

export type Bytes = Uint8Array;

export interface KeyValue {
  readonly key: Bytes;
  readonly value: Bytes;
  readonly createRevision: number;
  readonly modRevision: number;
  /** Number of modifications since creation (1 after the create); 0 never appears on a live key. */
  readonly version: number;
  /** Lease id, 0 for none. */
  readonly lease: number;
}

export type SortOrder = 'none' | 'ascend' | 'descend';
export type SortTarget = 'key' | 'version' | 'create' | 'mod' | 'value';

/**
 * A range: `rangeEnd` undefined (or empty) means the single `key`; a rangeEnd of one zero byte
 * means every key >= key; otherwise [key, rangeEnd).
 */
export interface RangeRequest {
  readonly key: Bytes;
  readonly rangeEnd?: Bytes;
  /** 0 or undefined: no limit. */
  readonly limit?: number;
  /** 0 or undefined: the current revision. */
  readonly revision?: number;
  readonly sortOrder?: SortOrder;
  readonly sortTarget?: SortTarget;
  readonly keysOnly?: boolean;
  readonly countOnly?: boolean;
  readonly minModRevision?: number;
  readonly maxModRevision?: number;
  readonly minCreateRevision?: number;
  readonly maxCreateRevision?: number;
}

export interface RangeResponse {
  readonly kvs: KeyValue[];
  /** More keys matched than `limit` returned. */
  readonly more: boolean;
  /** Keys in the range (before limit). */
  readonly count: number;
  /** The store's revision the read was served at (the header revision). */
  readonly revision: number;
}

export interface PutRequest {
  readonly key: Bytes;
  readonly value: Bytes;
  readonly lease?: number;
  readonly prevKv?: boolean;
  /** Keep the current value (error if the key does not exist). */
  readonly ignoreValue?: boolean;
  /** Keep the current lease (error if the key does not exist). */
  readonly ignoreLease?: boolean;
}

export interface PutResponse {
  readonly revision: number;
  readonly prevKv?: KeyValue;
}

export interface DeleteRangeRequest {
  readonly key: Bytes;
  readonly rangeEnd?: Bytes;
  readonly prevKv?: boolean;
}

export interface DeleteRangeResponse {
  readonly revision: number;
  readonly deleted: number;
  readonly prevKvs: KeyValue[];
}

export type CompareTarget = 'version' | 'create' | 'mod' | 'value' | 'lease';
export type CompareResult = 'equal' | 'greater' | 'less' | 'not_equal';

export interface Compare {
  readonly key: Bytes;
  readonly rangeEnd?: Bytes;
  readonly target: CompareTarget;
  readonly result: CompareResult;
  /** A number for version/create/mod/lease, bytes for value. */
  readonly operand: number | Bytes;
}

export type RequestOp =
  | { readonly range: RangeRequest }
  | { readonly put: PutRequest }
  | { readonly deleteRange: DeleteRangeRequest }
  | { readonly txn: TxnRequest };

export type ResponseOp =
  | { readonly range: RangeResponse }
  | { readonly put: PutResponse }
  | { readonly deleteRange: DeleteRangeResponse }
  | { readonly txn: TxnResponse };

export interface TxnRequest {
  readonly compare: readonly Compare[];
  readonly success: readonly RequestOp[];
  readonly failure: readonly RequestOp[];
}

export interface TxnResponse {
  readonly revision: number;
  readonly succeeded: boolean;
  readonly responses: ResponseOp[];
}

/** What goes through the Raft log. */
export type Command =
  | { readonly type: 'put'; readonly request: PutRequest }
  | { readonly type: 'deleteRange'; readonly request: DeleteRangeRequest }
  | { readonly type: 'txn'; readonly request: TxnRequest }
  | { readonly type: 'compact'; readonly revision: number }
  /** id chosen by the proposer (server-chosen ids are picked before proposing, so apply stays deterministic). */
  | { readonly type: 'leaseGrant'; readonly id: number; readonly ttl: number }
  | { readonly type: 'leaseRevoke'; readonly id: number }
  /** The leader found the lease expired; same effect as revoke, but a no-op if it was renewed meanwhile is not tracked here. */
  | { readonly type: 'leaseExpire'; readonly id: number }
  /**
   * Renew a lease: no change to the key space and no new revision; every replica notes the
   * renewal time when it applies it, so any new leader knows the deadlines. Unknown id → MK_LEASE_NOT_FOUND.
   */
  | { readonly type: 'leaseKeepAlive'; readonly id: number }
  /** A member's placement facts for the roles planner: no key changes, no revision. */
  | ({ readonly type: 'memberSet' } & MemberInfo)
  /** A joining node's first record: rejected (MK_MEMBER_ID_TAKEN) if the id is already recorded. */
  | ({ readonly type: 'memberAdd' } & MemberInfo)
  /** Derived from a membership entry that removes a member: its row goes with it. */
  | { readonly type: 'memberRemove'; readonly id: number };

/** What the roles planner needs to know of a member beyond its role (replicated state). */
export interface MemberInfo {
  readonly id: number;
  readonly failureDomain: string;
  /** Lower is preferred for voters and standbys. */
  readonly weight: number;
  /** Stopping cleanly: its role should go to someone else first. */
  readonly draining: boolean;
  /** HOST:PORT of its peer transport ('' if unknown): how every member reaches it. */
  readonly peerAddress: string;
  /** URL of its etcd API ('' if none), for MemberList. */
  readonly clientUrl: string;
  /**
   * An operator asked for its removal: 'if-offline' is carried out only while the leader does not
   * hear from it, 'force' in any case. Either way a voter is replaced and demoted first.
   */
  readonly removal: MemberRemoval;
}

export type MemberRemoval = 'no' | 'if-offline' | 'force';
export const MEMBER_REMOVALS: readonly MemberRemoval[] = ['no', 'if-offline', 'force'];

export type CommandResponse =
  | { readonly type: 'put'; readonly response: PutResponse }
  | { readonly type: 'deleteRange'; readonly response: DeleteRangeResponse }
  | { readonly type: 'txn'; readonly response: TxnResponse }
  | { readonly type: 'compact'; readonly revision: number }
  | { readonly type: 'leaseGrant'; readonly id: number; readonly ttl: number; readonly revision: number }
  | { readonly type: 'leaseRevoke'; readonly revision: number }
  | { readonly type: 'leaseKeepAlive'; readonly id: number; readonly ttl: number }
  | { readonly type: 'memberSet'; readonly id: number }
  | { readonly type: 'memberAdd'; readonly id: number }
  | { readonly type: 'memberRemove'; readonly id: number };

/** A deterministic failure of a command (every replica reaches the same one). */
export interface CommandError {
  /** A MicroK8sError code: MK_COMPACTED, MK_FUTURE_REVISION, MK_LEASE_NOT_FOUND, MK_INVALID_ARGUMENT. */
  readonly code: string;
  /** etcd's exact message, e.g. "etcdserver: mvcc: required revision has been compacted". */
  readonly message: string;
}

export type ApplyResult =
  | { readonly ok: true; readonly response: CommandResponse }
  | { readonly ok: false; readonly error: CommandError };

export type EventType = 'put' | 'delete';

export interface WatchEvent {
  readonly type: EventType;
  /** For a delete: the key with modRevision = the delete's revision, empty value, version 0. */
  readonly kv: KeyValue;
  readonly prevKv?: KeyValue;
}

/** Events of one applied revision (all events a single command produced), in order. */
export interface RevisionEvents {
  readonly revision: number;
  readonly events: readonly WatchEvent[];
}

export interface LeaseInfo {
  readonly id: number;
  readonly ttl: number;
  readonly keys: Bytes[];
}
