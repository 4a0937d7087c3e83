/**
 * The RawNode wraps the pure core with the Ready / advance protocol (see `Ready` for the order
 * the application must follow). It tracks what was already handed out so each Ready carries
 * only news.
 */
import { assert } from '../../lib/assert.js';
import { Raft, type RaftConfig, type RaftStatus } from './raft.js';
import type { ConfChange, HardState, Message, NodeId, Ready, SoftState } from './types.js';

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export class RawNode {
  readonly raft: Raft;
  private prevHard: HardState;
  private prevSoft: SoftState;
  private outstanding: Ready | undefined;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevHard = this.hardState();
    this.prevSoft = this.softState();
  }

  private hardState(): HardState {
    return { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
  }

  private softState(): SoftState {
    return { leader: this.raft.lead, state: this.raft.state };
  }

  tick(): void {
    this.raft.tick();
  }

  step(message: Message): void {
    this.raft.step(message);
  }

  /** Propose entries (one batch); returns the index of the last one on the leader, 0 when forwarded. */
  propose(datas: readonly Uint8Array[]): number {
    return this.raft.propose(datas);
  }

  proposeConfChange(change: ConfChange): number {
    return this.raft.proposeConfChange(change);
  }

  readIndex(context: number): void {
    this.raft.readIndex(context);
  }

  transferLeadership(target: NodeId): void {
    this.raft.transferLeadership(target);
  }

  campaign(): void {
    this.raft.campaignNow();
  }

  status(): RaftStatus {
    return this.raft.status();
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    const r = this.raft;
    const soft = this.softState();
    return (
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.log.unstableEntries().length > 0 ||
      r.log.unstable.snapshot !== undefined ||
      r.log.hasNextCommitted() ||
      !sameHardState(this.hardState(), this.prevHard) ||
      soft.leader !== this.prevSoft.leader ||
      soft.state !== this.prevSoft.state
    );
  }

  ready(): Ready {
    assert(this.outstanding === undefined, 'ready() called again before advance()');
    const r = this.raft;
    const hard = this.hardState();
    const soft = this.softState();
    const snapshot = r.log.unstable.snapshot;
    const rd: Ready = {
      ...(soft.leader !== this.prevSoft.leader || soft.state !== this.prevSoft.state
        ? { softState: soft }
        : {}),
      ...(sameHardState(hard, this.prevHard) ? {} : { hardState: hard }),
      entries: r.log.unstableEntries().slice(),
      ...(snapshot ? { snapshot } : {}),
      committed: r.log.nextCommitted(),
      messages: r.msgs,
      readStates: r.readStates,
    };
    r.msgs = [];
    r.readStates = [];
    this.prevHard = hard;
    this.prevSoft = soft;
    this.outstanding = rd;
    return rd;
  }

  /** The application has persisted, sent and applied `rd`. */
  advance(rd: Ready): void {
    assert(this.outstanding === rd, 'advance() with a Ready that is not the outstanding one');
    const log = this.raft.log;
    if (rd.committed.length > 0) log.appliedTo(rd.committed[rd.committed.length - 1]!.index);
    if (rd.snapshot) {
      log.stableSnapTo(rd.snapshot.meta.index);
      if (rd.snapshot.meta.index > log.applied) log.applied = rd.snapshot.meta.index;
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      log.stableTo(last.index, last.term);
    }
    this.outstanding = undefined;
  }
}
