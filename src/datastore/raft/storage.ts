/**
 * The narrow read interface through which the core sees what has been persisted, and an
 * in-memory implementation used by tests, the simulator's disk and the core benchmark.
 */
import { assert } from '../../lib/assert.js';
import type { ConfState, Entry, HardState, Snapshot } from './types.js';

export interface RaftStorage {
  /** The persisted hard state and the membership of the latest snapshot. */
  initialState(): { hardState: HardState; snapshotConf: ConfState };
  /** Entries in [lo, hi), at most maxBytes (but at least one). lo >= firstIndex(), hi <= lastIndex()+1. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** The term of entry i, for firstIndex()-1 <= i <= lastIndex(); undefined outside. */
  term(i: number): number | undefined;
  /** Index of the first entry still in the log (snapshot index + 1). */
  firstIndex(): number;
  lastIndex(): number;
  /** The latest snapshot (index 0 with the bootstrap membership before any). */
  snapshot(): Snapshot;
}

export const ENTRY_OVERHEAD_BYTES = 24;
export function entrySize(entry: Entry): number {
  return entry.data.byteLength + ENTRY_OVERHEAD_BYTES;
}

/** Cut a list of entries to maxBytes, always keeping the first. */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  let size = 0;
  for (let i = 0; i < entries.length; i++) {
    size += entrySize(entries[i]!);
    if (i > 0 && size > maxBytes) return entries.slice(0, i);
  }
  return entries;
}

export class MemoryStorage implements RaftStorage {
  private hard: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: Snapshot;
  /** ents[0] is a dummy at the snapshot index carrying its term. */
  private ents: Entry[];

  constructor(bootstrap: ConfState = { members: [] }) {
    this.snap = { meta: { index: 0, term: 0, conf: bootstrap }, data: new Uint8Array(0) };
    this.ents = [{ index: 0, term: 0, type: 0, data: new Uint8Array(0) }];
  }

  initialState() {
    return { hardState: this.hard, snapshotConf: this.snap.meta.conf };
  }

  hardState(): HardState {
    return this.hard;
  }

  setHardState(hard: HardState): void {
    this.hard = hard;
  }

  private offset(): number {
    return this.ents[0]!.index;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  term(i: number): number | undefined {
    const offset = this.offset();
    if (i < offset || i > this.lastIndex()) return undefined;
    return this.ents[i - offset]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.offset();
    assert(
      lo > offset && hi <= this.lastIndex() + 1 && lo <= hi,
      () => `entries(${lo}, ${hi}) outside (${offset}, ${this.lastIndex()}]`,
    );
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Persist entries, replacing any conflicting suffix. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    const offset = this.offset();
    assert(first > offset, () => `append at ${first} is at or below the snapshot ${offset}`);
    assert(first <= this.lastIndex() + 1, () => `append at ${first} leaves a gap after ${this.lastIndex()}`);
    this.ents.length = first - offset;
    for (const e of entries) this.ents.push(e);
  }

  /** Install a snapshot received from the leader: the log restarts after it. */
  applySnapshot(snapshot: Snapshot): void {
    if (snapshot.meta.index <= this.snap.meta.index) return;
    this.snap = snapshot;
    this.ents = [{ index: snapshot.meta.index, term: snapshot.meta.term, type: 0, data: new Uint8Array(0) }];
  }

  /** Record a snapshot of the local state machine at `index` and drop the log before it. */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    assert(index <= this.hard.commit || index <= this.lastIndex(), 'snapshot beyond the log');
    const term = this.term(index);
    assert(term !== undefined, () => `snapshot at compacted or missing index ${index}`);
    this.snap = { meta: { index, term, conf }, data };
    this.compact(index);
    return this.snap;
  }

  /** Drop entries up to and including `index`, keeping a dummy with its term. */
  compact(index: number): void {
    const offset = this.offset();
    if (index <= offset) return;
    assert(index <= this.lastIndex(), 'compact beyond the last index');
    this.ents = this.ents.slice(index - offset);
  }
}
