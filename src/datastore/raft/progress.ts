/** What the leader knows about each member's log, and the flow control of its replication. */
import { assert } from '../../lib/assert.js';
import type { Snapshot } from './types.js';

/** A bounded window of App messages in flight, identified by their last index. */
export class Inflights {
  private readonly lastIndexes: number[] = [];
  private readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  add(lastIndex: number): void {
    assert(!this.full(), 'inflights overflow');
    this.lastIndexes.push(lastIndex);
  }

  /** Free every message whose last index is at or below `index` (acknowledged). */
  freeTo(index: number): void {
    let n = 0;
    while (n < this.lastIndexes.length && this.lastIndexes[n]! <= index) n++;
    if (n > 0) this.lastIndexes.splice(0, n);
  }

  /** Free the oldest slot, so a window full of lost messages cannot stall replication forever. */
  freeFirstOne(): void {
    this.lastIndexes.shift();
  }

  full(): boolean {
    return this.lastIndexes.length >= this.capacity;
  }

  count(): number {
    return this.lastIndexes.length;
  }

  reset(): void {
    this.lastIndexes.length = 0;
  }
}

/** A chunked snapshot on its way to one follower. */
export interface SnapshotTransfer {
  readonly snapshot: Snapshot;
  /** Next byte offset to send. */
  sent: number;
  /** Bytes the follower has confirmed. */
  acked: number;
  /** Whether the first chunk went out (an empty snapshot still needs one message). */
  started: boolean;
  /** `acked` when the last heartbeat answer came: no progress between two answers means loss. */
  ackedAtLastHeartbeat: number;
}

/**
 * probe: one message at a time until we find where the follower's log matches.
 * replicate: optimistic, pipelined up to the inflight window.
 * snapshot: a snapshot is being sent; appends wait until it is installed.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe: a message was sent and we wait for its answer (or a heartbeat answer). */
  probeSent = false;
  transfer: SnapshotTransfer | undefined;
  /** Tick at which the leader last heard from this member (check-quorum and liveness). */
  lastHeardTick: number;
  /** Highest read sequence this member has confirmed. */
  readAck = 0;
  /**
   * A spare still gets the log up to here: the entry that made it a spare (or, for a new leader,
   * its first entry), so that it learns its own role and holds fresh data, then replication stops.
   */
  spareUntil = 0;
  readonly inflights: Inflights;

  constructor(next: number, maxInflight: number, nowTick: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
    this.lastHeardTick = nowTick;
  }

  becomeProbe(): void {
    if (this.state === 'snapshot' && this.transfer) {
      // After a snapshot the follower holds at least its index.
      this.next = Math.max(this.match + 1, this.transfer.snapshot.meta.index + 1);
    } else {
      this.next = this.match + 1;
    }
    this.state = 'probe';
    this.probeSent = false;
    this.transfer = undefined;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.transfer = undefined;
    this.inflights.reset();
  }

  becomeSnapshot(snapshot: Snapshot): void {
    this.state = 'snapshot';
    this.probeSent = false;
    this.inflights.reset();
    this.transfer = { snapshot, sent: 0, acked: 0, started: false, ackedAtLastHeartbeat: -1 };
  }

  /** An acknowledgement up to `index`; returns whether it was news. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** A rejection of the append at `rejected`; returns whether it was not stale. */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false; // stale
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false; // stale: not the probe we sent
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
