/**
 * The entries since the last compaction, kept in memory so that the core's synchronous reads
 * never touch the disk. `base` is the compaction point: its term is kept so that
 * term(firstIndex - 1) answers, like MemoryStorage's dummy entry.
 */
import { assert } from '../../lib/assert.js';
import { limitSize } from '../raft/storage.js';
import type { Entry } from '../raft/types.js';

export class EntryWindow {
  private base: number;
  private baseTerm: number;
  private ents: Entry[];

  constructor(base: number, baseTerm: number, ents: Entry[] = []) {
    this.base = base;
    this.baseTerm = baseTerm;
    this.ents = ents;
    for (let i = 0; i < ents.length; i++) {
      assert(ents[i]!.index === base + 1 + i, 'window entries must follow the base without gaps');
    }
  }

  firstIndex(): number {
    return this.base + 1;
  }

  lastIndex(): number {
    return this.base + this.ents.length;
  }

  count(): number {
    return this.ents.length;
  }

  term(i: number): number | undefined {
    if (i === this.base) return this.baseTerm;
    if (i < this.base || i > this.lastIndex()) return undefined;
    return this.ents[i - this.base - 1]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(
      lo > this.base && hi <= this.lastIndex() + 1 && lo <= hi,
      () => `entries(${lo}, ${hi}) outside (${this.base}, ${this.lastIndex()}]`,
    );
    return limitSize(this.ents.slice(lo - this.base - 1, hi - this.base - 1), maxBytes);
  }

  /**
   * Check that `entries` can be appended: consecutive, after the compaction point, no gap, and
   * terms that never go down (a Raft log invariant; a violation is a caller bug).
   */
  checkAppend(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    assert(first > this.base, () => `append at ${first} is at or below the compaction point ${this.base}`);
    assert(first <= this.lastIndex() + 1, () => `append at ${first} leaves a gap after ${this.lastIndex()}`);
    let prevTerm = this.term(first - 1)!;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      assert(e.index === first + i, () => `entries are not consecutive at ${e.index}`);
      assert(Number.isSafeInteger(e.term) && e.term >= prevTerm, () => `entry ${e.index} has term ${e.term}`);
      prevTerm = e.term;
    }
  }

  /** Append, replacing any conflicting suffix (as MemoryStorage.append). */
  append(entries: readonly Entry[]): void {
    this.checkAppend(entries);
    if (entries.length === 0) return;
    this.ents.length = entries[0]!.index - this.base - 1;
    for (const e of entries) this.ents.push(e);
  }

  /** Drop the entries up to and including `index`, keeping its term as the new base term. */
  compact(index: number): void {
    if (index <= this.base) return;
    const term = this.term(index);
    assert(term !== undefined, () => `compact at ${index} beyond the last index ${this.lastIndex()}`);
    this.ents = this.ents.slice(index - this.base);
    this.base = index;
    this.baseTerm = term;
  }

  /** Restart the log after a snapshot: no entries, the snapshot point is the base. */
  reset(index: number, term: number): void {
    this.ents = [];
    this.base = index;
    this.baseTerm = term;
  }
}
