/**
 * The Raft log as the core sees it: what storage has persisted, followed by the `unstable` part
 * (entries and possibly a snapshot) that the next Ready will ask the application to persist.
 */
import { assert } from '../../lib/assert.js';
import { limitSize, type RaftStorage } from './storage.js';
import type { Entry, Snapshot } from './types.js';

class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  /** Index of entries[0]. */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.meta.index + 1 : undefined;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.meta.index;
  }

  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      return this.snapshot && this.snapshot.meta.index === i ? this.snapshot.meta.term : undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    if (i - this.offset >= this.entries.length) {
      return this.snapshot && this.snapshot.meta.index === i ? this.snapshot.meta.term : undefined;
    }
    return this.entries[i - this.offset]!.term;
  }

  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index);
    // Only if the entry persisted is still the one we hold (it may have been overwritten since).
    if (t === term && index >= this.offset) {
      this.entries = this.entries.slice(index + 1 - this.offset);
      this.offset = index + 1;
    }
  }

  stableSnapTo(index: number): void {
    if (this.snapshot && this.snapshot.meta.index === index) this.snapshot = undefined;
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.meta.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  truncateAndAppend(entries: readonly Entry[]): void {
    const after = entries[0]!.index;
    if (after === this.offset + this.entries.length) {
      for (const e of entries) this.entries.push(e);
    } else if (after <= this.offset) {
      // Replaces everything unstable; storage truncates its own suffix when this is persisted.
      this.offset = after;
      this.entries = entries.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(entries);
    }
  }
}

export class RaftLog {
  readonly storage: RaftStorage;
  readonly unstable: Unstable;
  committed: number;
  /** Highest index handed to the application for applying. */
  applied: number;
  private readonly maxApplyBytes: number;

  constructor(storage: RaftStorage, maxApplyBytes: number) {
    this.storage = storage;
    this.unstable = new Unstable(storage.lastIndex() + 1);
    this.committed = storage.firstIndex() - 1;
    this.applied = storage.firstIndex() - 1;
    this.maxApplyBytes = maxApplyBytes;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, 'the last entry has no term');
    return t;
  }

  /** The term of entry i, or undefined if it is compacted or beyond the log. */
  term(i: number): number | undefined {
    const dummy = this.firstIndex() - 1;
    if (i < dummy || i > this.lastIndex()) return undefined;
    return this.unstable.maybeTerm(i) ?? this.storage.term(i);
  }

  matchTerm(i: number, term: number): boolean {
    return this.term(i) === term;
  }

  /** A candidate's log (lastIndex, lastTerm) is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** The first index of `entries` whose term differs from ours, or 0 if all of them match. */
  findConflict(entries: readonly Entry[]): number {
    for (const e of entries) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0]!.index - 1;
    assert(
      after >= this.committed,
      () => `append after ${after} would overwrite committed ${this.committed}`,
    );
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    assert(index <= this.lastIndex(), () => `commit ${index} beyond the last index ${this.lastIndex()}`);
    this.committed = index;
    return true;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    assert(
      index <= this.committed && index >= this.applied,
      () => `applied ${index} outside [${this.applied}, ${this.committed}]`,
    );
    this.applied = index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries;
  }

  /** Entries in [lo, hi), at most maxBytes (at least one). */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    assert(lo >= this.firstIndex(), () => `slice from ${lo} below the first index ${this.firstIndex()}`);
    assert(hi <= this.lastIndex() + 1, () => `slice to ${hi} beyond ${this.lastIndex() + 1}`);
    const offset = this.unstable.offset;
    let out: Entry[] = [];
    if (lo < offset) {
      out = this.storage.entries(lo, Math.min(hi, offset), maxBytes);
      if (out.length < Math.min(hi, offset) - lo) return out; // cut by size
    }
    if (hi > offset) {
      const from = Math.max(lo, offset) - offset;
      const more = this.unstable.entries.slice(from, hi - offset);
      out = out.length === 0 ? more : out.concat(more);
    }
    return limitSize(out, maxBytes);
  }

  hasNextCommitted(): boolean {
    return this.committed > this.applied && this.unstable.snapshot === undefined;
  }

  nextCommitted(): Entry[] {
    if (!this.hasNextCommitted()) return [];
    const lo = Math.max(this.applied + 1, this.firstIndex());
    return this.slice(lo, this.committed + 1, this.maxApplyBytes);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  restore(snapshot: Snapshot): void {
    this.committed = snapshot.meta.index;
    this.unstable.restore(snapshot);
  }
}
