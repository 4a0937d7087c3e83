/** The named limits of the key-value state machine. */
import { MiB } from '../../lib/limits.js';

/**
 * Deepest nesting of txn inside txn the codec accepts. etcd has no explicit bound, but a crafted
 * entry must not be able to blow the stack of every replica while decoding it.
 */
export const MAX_TXN_DEPTH = 32;

/**
 * Largest magnitude of a signed integer field (compare operands, range limit and revisions). The
 * zigzag encoding doubles the magnitude, and doubles stay exact for even values up to 2^54, so
 * 2^52 - 1 keeps every encoded value exact. Revisions never get near it.
 */
export const MAX_SIGNED_FIELD = 2 ** 52 - 1;

/** Initial size of the codec's output buffer; it doubles as needed. */
export const ENCODE_INITIAL_BYTES = 256;

/**
 * SQLite page cache per connection (negative = KiB, SQLite's convention); pages beyond it are read
 * from the OS page cache, which is shared and not in the daemon's RSS. 64 MiB filled up under a
 * write load over 20k keys of 1 KiB and held the node's peak RSS ~15 MB higher than 8 MiB, with
 * writes/s and paged lists of those keys the same within the noise of the machine.
 */
export const SQLITE_CACHE_KIB = (8 * MiB) / 1024;

/**
 * WAL pages that start a checkpoint (SQLite's default auto-checkpoint size), flushed off the
 * event loop first (kv-store.ts maybeCheckpoint).
 */
export const WAL_CHECKPOINT_PAGES = 1000;

/**
 * SQLite's own auto-checkpoint, which syncs on the event loop: only reached if the flushes above
 * fall behind (a stalled disk), so that the WAL stays bounded anyway.
 */
export const WAL_CHECKPOINT_BACKSTOP_PAGES = 4 * WAL_CHECKPOINT_PAGES;

/**
 * Free pages a Defragment step gives back (4 MiB of 4 KiB pages): about 5 ms of the event loop
 * per step on this project's test machine (256 pages: 1.4 ms at most), so Raft's 100 ms ticks are never held up.
 */
export const DEFRAG_STEP_PAGES = 1024;

/** Log rows a HashKV step reads (about 1 ms of the event loop for small values). */
export const HASH_KV_STEP_ROWS = 1000;

/** Scans a HashKV starts over when a compaction or a restore changes the rows under it. */
export const HASH_KV_ATTEMPTS = 3;
