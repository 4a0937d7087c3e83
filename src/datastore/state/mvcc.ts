/**
 * The MVCC core: the counters (applied index, revision, compact revision, next event id), the
 * read primitives and the two write primitives (put a key, delete a key) every command is built
 * from. A command that writes opens a revision with `beginRevision`, performs its changes at
 * `pendingRevision`, and closes it with `endRevision`; the store revision only moves if something
 * changed, so a no-op delete or a read-only txn costs no revision (etcd's behaviour).
 */
import type Database from 'better-sqlite3';
import { assert } from '../../lib/assert.js';
import { EMPTY_BYTES, type KeySpan, plainBytes, spanParams } from './bytes.js';
import { type PersistedState, readPersistedState } from './schema.js';
import { type KeyRow, Statements } from './sql.js';
import {
  type KeyValue,
  MEMBER_REMOVALS,
  type MemberInfo,
  type RevisionEvents,
  type WatchEvent,
} from './types.js';

export function makeKv(
  key: Uint8Array,
  value: Uint8Array,
  createRevision: number,
  modRevision: number,
  version: number,
  lease: number,
): KeyValue {
  return { key, value, createRevision, modRevision, version, lease };
}

/** A row as a KeyValue; the value is empty unless the row carries one. */
export function rowToKv(row: KeyRow): KeyValue {
  return makeKv(
    plainBytes(row.key),
    row.value === undefined ? EMPTY_BYTES : plainBytes(row.value),
    row.create_rev,
    row.mod_rev,
    row.version,
    row.lease,
  );
}

export class KvCore {
  readonly sql: Statements;
  appliedIndex = 0;
  revision = 0;
  compactRevision = 0;
  private nextEventId = 1;

  /** Revision being written by the command in progress (revision + 1). */
  private pending = 0;
  /** Something changed at `pending`. */
  private changed = false;
  /** Events of the revision in progress, or undefined when nobody listens (they are not built). */
  private events: WatchEvent[] | undefined;
  /** Mutations by the command in progress; a rejection after one would be a bug (no partial commands). */
  mutations = 0;

  constructor(readonly db: Database.Database) {
    this.sql = new Statements(db);
    this.loadState(readPersistedState(db));
  }

  loadState(state: Omit<PersistedState, 'format'> = this.sql.getState.get() as PersistedState): void {
    this.appliedIndex = state.appliedIndex;
    this.revision = state.revision;
    this.compactRevision = state.compactRevision;
    this.nextEventId = state.nextEventId;
  }

  saveState(): void {
    this.sql.saveState.run(this.appliedIndex, this.revision, this.compactRevision, this.nextEventId);
  }

  /** Whether events are being built (someone subscribed): the previous values are then needed. */
  get recording(): boolean {
    return this.events !== undefined;
  }

  beginRevision(recordEvents: boolean): void {
    this.pending = this.revision + 1;
    this.changed = false;
    this.events = recordEvents ? [] : undefined;
  }

  /** The revision a read in the command in progress reports: the new one once something changed. */
  viewRevision(): number {
    return this.changed ? this.pending : this.revision;
  }

  get pendingRevision(): number {
    return this.pending;
  }

  endRevision(): RevisionEvents | undefined {
    const events = this.events;
    this.events = undefined;
    if (!this.changed) return undefined;
    this.changed = false;
    this.revision = this.pending;
    return events === undefined ? undefined : { revision: this.revision, events };
  }

  /** Leave a revision in which the command was rejected; it changed nothing (checked by the caller). */
  abortRevision(): void {
    this.events = undefined;
  }

  getLive(key: Uint8Array, withValue: boolean): KeyRow | undefined {
    return (withValue ? this.sql.getLiveWithValue : this.sql.getLive).get(key) as KeyRow | undefined;
  }

  /** Live keys of a span, ascending, all of them. */
  liveRows(span: KeySpan, withValue: boolean): KeyRow[] {
    if (span.kind === 'point') {
      const row = this.getLive(span.key, withValue);
      return row === undefined ? [] : [row];
    }
    return this.sql.liveRows(span.kind, false, withValue).all(...spanParams(span), -1) as KeyRow[];
  }

  /** Write a new version of a key at the pending revision; `prev` is its live row, if any. */
  put(key: Uint8Array, value: Uint8Array, lease: number, prev: KeyRow | undefined): KeyValue {
    const rev = this.pending;
    assert(rev === this.revision + 1, 'put outside a revision');
    assert(prev === undefined || prev.mod_rev < rev, 'a key changed twice in one revision');
    const id = this.nextEventId++;
    const createRev = prev === undefined ? rev : prev.create_rev;
    const version = prev === undefined ? 1 : prev.version + 1;
    this.sql.insertLog.run(
      id,
      key,
      rev,
      0,
      createRev,
      version,
      lease,
      prev === undefined ? 0 : prev.log_id,
      value,
    );
    this.sql.upsertLive.run(key, rev, createRev, version, lease, id);
    this.changed = true;
    this.mutations++;
    const kv = makeKv(key, value, createRev, rev, version, lease);
    if (this.events !== undefined) {
      this.events.push(prev === undefined ? { type: 'put', kv } : { type: 'put', kv, prevKv: rowToKv(prev) });
    }
    return kv;
  }

  /** Delete a live key at the pending revision, leaving a tombstone in the log. */
  delete(row: KeyRow): void {
    const rev = this.pending;
    assert(rev === this.revision + 1, 'delete outside a revision');
    assert(row.mod_rev < rev, 'a key changed twice in one revision');
    const id = this.nextEventId++;
    this.sql.insertLog.run(id, row.key, rev, 1, 0, 0, 0, row.log_id, EMPTY_BYTES);
    const info = this.sql.deleteLive.run(row.key);
    assert(info.changes === 1, 'deleted a key that was not live');
    this.changed = true;
    this.mutations++;
    if (this.events !== undefined) {
      this.events.push({
        type: 'delete',
        kv: makeKv(plainBytes(row.key), EMPTY_BYTES, 0, rev, 0, 0),
        prevKv: rowToKv(row),
      });
    }
  }

  /**
   * The smallest log id whose revision is >= rev (or an id past every row). Revisions grow with
   * ids, so this is a binary search over rowids: O(log n) point lookups and no rev index to
   * maintain on every write.
   */
  firstEventIdAtOrAfter(rev: number): number {
    // Invariant: rows with id < lo have rev < `rev`; rows with id >= hi have rev >= `rev`.
    let lo = 0;
    let hi = this.nextEventId;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const row = this.sql.firstEventAtOrAfter.get(mid) as { id: number; rev: number } | undefined;
      // No row in [mid, row.id): when row.rev >= rev (or there is no row), every row >= mid qualifies.
      if (row === undefined || row.rev >= rev) hi = mid;
      else lo = row.id + 1;
    }
    return lo;
  }

  /**
   * Physical compaction at `rev`: remove every row superseded at or before it and every tombstone
   * at or before it. The rows to look at are the changes since the previous compaction: rows
   * older than that are either already gone or were the latest of their key then.
   */
  compact(rev: number): void {
    assert(rev > this.compactRevision && rev <= this.revision, 'compact revision out of range');
    const from = this.firstEventIdAtOrAfter(this.compactRevision + 1);
    const to = this.firstEventIdAtOrAfter(rev + 1);
    this.sql.compactSuperseded.run(from, to);
    this.sql.compactTombstones.run(from, to);
    this.compactRevision = rev;
    this.mutations++;
  }

  leaseExists(id: number): boolean {
    return this.sql.getLease.get(id) !== undefined;
  }

  getLease(id: number): { id: number; ttl: number } | undefined {
    return this.sql.getLease.get(id) as { id: number; ttl: number } | undefined;
  }

  grantLease(id: number, ttl: number): void {
    this.sql.insertLease.run(id, ttl);
    this.mutations++;
  }

  /** Delete the lease row (its keys are deleted by the caller first). */
  removeLease(id: number): void {
    const info = this.sql.deleteLease.run(id);
    assert(info.changes === 1, 'removed a lease that did not exist');
    this.mutations++;
  }

  setMember(info: MemberInfo): void {
    this.sql.upsertMember.run(
      info.id,
      info.failureDomain,
      info.weight,
      info.draining ? 1 : 0,
      info.peerAddress,
      info.clientUrl,
      MEMBER_REMOVALS.indexOf(info.removal),
    );
    this.mutations++;
  }

  removeMember(id: number): void {
    if (this.sql.deleteMember.run(id).changes > 0) this.mutations++;
  }

  members(): MemberInfo[] {
    const rows = this.sql.allMembers.all() as (Omit<MemberInfo, 'draining' | 'removal'> & {
      draining: number;
      removal: number;
    })[];
    return rows.map((m) => ({
      ...m,
      draining: m.draining === 1,
      removal: MEMBER_REMOVALS[m.removal] ?? 'no',
    }));
  }

  leaseRows(id: number, withValue: boolean): KeyRow[] {
    return (withValue ? this.sql.leaseRowsWithValue : this.sql.leaseRows).all(id) as KeyRow[];
  }
}
