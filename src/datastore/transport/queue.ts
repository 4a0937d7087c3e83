/**
 * The bounded queue of encoded messages waiting for one peer.
 *
 * When full it drops the OLDEST messages. Raft tolerates loss either way, but the newest
 * messages are the useful ones: they carry the latest term, commit index and heartbeat read
 * sequence, and a vote or an append from a term that has passed is ignored by the receiver
 * anyway. Dropping new ones instead would deliver stale state first after a stall and make a
 * recovering peer wait for a whole queue of obsolete traffic.
 */
import { assert } from '../../lib/assert.js';

/** Drained slots are reclaimed once this many (and half the array) are dead. */
const COMPACT_AFTER = 4096;

export class MessageQueue {
  private items: (Uint8Array | undefined)[] = [];
  private head = 0;
  private bytes = 0;

  constructor(
    private readonly maxMessages: number,
    private readonly maxBytes: number,
  ) {
    assert(maxMessages >= 1 && maxBytes >= 1, 'queue bounds are positive');
  }

  get length(): number {
    return this.items.length - this.head;
  }

  get byteSize(): number {
    return this.bytes;
  }

  /** Whether a message of this size can ever be queued. */
  fits(size: number): boolean {
    return size <= this.maxBytes;
  }

  /** Append, dropping the oldest messages to stay within the bounds; returns how many were dropped. */
  push(item: Uint8Array): number {
    assert(this.fits(item.length), 'message fits the queue (checked by the caller)');
    let dropped = 0;
    while (
      this.length > 0 &&
      (this.length + 1 > this.maxMessages || this.bytes + item.length > this.maxBytes)
    ) {
      this.shift();
      dropped++;
    }
    this.items.push(item);
    this.bytes += item.length;
    return dropped;
  }

  peek(): Uint8Array | undefined {
    return this.items[this.head];
  }

  shift(): Uint8Array {
    assert(this.length > 0, 'shift from a non-empty queue');
    const item = this.items[this.head]!;
    this.items[this.head] = undefined;
    this.head++;
    this.bytes -= item.length;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Empty the queue; returns how many messages were discarded. */
  clear(): number {
    const count = this.length;
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    return count;
  }
}
