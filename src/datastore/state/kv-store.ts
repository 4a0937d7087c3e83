/**
 * The replicated key-value state machine: committed Raft entries in, etcd v3 results and watch
 * events out, state in one SQLite database.
 *
 * Durability: the Raft log is the durability point, so SQLite runs in WAL mode with
 * synchronous=NORMAL (a power cut can lose the last transactions, never corrupt the file). The
 * applied index is written in the same transaction as the changes it covers, so after a restart
 * the db says exactly where to resume; entries at or below it are skipped.
 *
 * Revisions follow etcd: an empty store is at revision 1 and the first write makes it 2.
 */
import { createHash } from 'node:crypto';
import {
  close as closeFd,
  closeSync,
  existsSync,
  fdatasync,
  fsyncSync,
  open,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import Database from 'better-sqlite3';
import { assert } from '../../lib/assert.js';
import { MicroK8sError } from '../../lib/errors.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { RateLimitedLog } from '../../lib/rate-limited-log.js';
import { fsyncDirectorySync } from '../../node/atomic-write.js';
import { applyPayload } from './apply.js';
import { plainBytes } from './bytes.js';
import { compactedError, futureRevisionError } from './failures.js';
import { readHistory } from './history.js';
import {
  DEFRAG_STEP_PAGES,
  HASH_KV_ATTEMPTS,
  HASH_KV_STEP_ROWS,
  SQLITE_CACHE_KIB,
  WAL_CHECKPOINT_BACKSTOP_PAGES,
  WAL_CHECKPOINT_PAGES,
} from './limits.js';
import { KvCore } from './mvcc.js';
import { checkKey, readRange } from './range.js';
import { checkIntegrity, createSchema, isEmptyDb, readPersistedState } from './schema.js';
import type {
  ApplyResult,
  Bytes,
  LeaseInfo,
  MemberInfo,
  RangeRequest,
  RangeResponse,
  RevisionEvents,
} from './types.js';
import { type RevisionListener, WatchHub } from './watch-hub.js';

export interface KvStateMachineOptions {
  readonly logger?: Logger;
}

/** A committed Raft entry; empty data (no-op, membership change) only advances the applied index. */
export interface AppliedEntry {
  readonly index: number;
  readonly data: Uint8Array;
}

const SQLITE_MAGIC = 'SQLite format 3\0';
/** PRAGMA auto_vacuum's value for INCREMENTAL. */
const AUTO_VACUUM_INCREMENTAL = 2;
/** Offsets of the file format bytes in the SQLite header: 2 = WAL, 1 = rollback journal. */
const HEADER_WRITE_VERSION = 18;
const HEADER_READ_VERSION = 19;

function isMemoryPath(path: string): boolean {
  return path === ':memory:' || path === '';
}

function corruption(message: string, cause?: unknown): MicroK8sError {
  return new MicroK8sError('MK_DATA_CORRUPTION', message, {}, cause === undefined ? undefined : { cause });
}

function configure(db: Database.Database, memory: boolean): void {
  if (!memory) {
    // One process owns the state: the exclusive lock keeps the WAL index in memory (no -shm file,
    // no lock system calls per transaction; reads and commits are ~1.5x faster) and makes a second
    // node opening the same data directory fail instead of applying to it too.
    db.pragma('locking_mode = EXCLUSIVE');
    // Defragment frees pages a slice at a time (see defragment); a new file takes the mode only
    // if it is set before journal_mode writes the header, an older one at its conversion below.
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    // Checkpoints are started by KvStateMachine once the WAL holds about WAL_CHECKPOINT_PAGES,
    // after an fdatasync of the WAL on the thread pool (see maybeCheckpoint). SQLite's own
    // checkpoint stays as a backstop, further out.
    db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_BACKSTOP_PAGES}`);
  }
  db.pragma('synchronous = NORMAL');
  db.pragma('temp_store = MEMORY');
  db.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
}

/**
 * A database made before Defragment ran in slices has no free-page map: one VACUUM, at open
 * (before this node serves or votes), gives it one. Never again for that file.
 */
function convertToIncrementalVacuum(db: Database.Database, path: string): void {
  if (isMemoryPath(path) || db.pragma('auto_vacuum', { simple: true }) === AUTO_VACUUM_INCREMENTAL) return;
  createLogger('datastore.state').info('converting the state database to incremental vacuum (once)', {
    path,
  });
  db.exec('VACUUM');
}

/** Open (and create if empty) a state database; anything that is not ours is MK_DATA_CORRUPTION. */
function openDatabase(path: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    // No busy wait: nobody else may hold the lock (see configure), and a synchronous wait would
    // block the event loop.
    db = new Database(path, { timeout: 0 });
    configure(db, isMemoryPath(path));
    if (isEmptyDb(db)) createSchema(db);
    readPersistedState(db);
    convertToIncrementalVacuum(db, path);
    return db;
  } catch (error) {
    db?.close();
    if (error instanceof MicroK8sError) throw error;
    const code = (error as { code?: unknown }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      throw corruption(`${path} is not a readable state database: ${(error as Error).message}`, error);
    }
    if (code === 'SQLITE_BUSY') {
      throw new MicroK8sError(
        'MK_INVALID_CONFIG',
        `${path} is in use by another process`,
        { path },
        { cause: error },
      );
    }
    throw error;
  }
}

function restoreTempPath(path: string): string {
  return `${path}.restore`;
}

export class KvStateMachine {
  private core: KvCore;
  private readonly hub: WatchHub;
  private closed = false;
  /** An in-memory db has no WAL to checkpoint. */
  private readonly hasWal: boolean;
  /** A WAL flush is running on the thread pool. */
  private walFlushing = false;
  /** Transactions committed since the last checkpoint. */
  private commitsSinceCheckpoint = 0;
  /**
   * Transactions that fill the WAL to about WAL_CHECKPOINT_PAGES: re-estimated at each checkpoint
   * from the frames it found (better-sqlite3 does not expose the WAL's frame count as it grows,
   * and the file keeps its size across WAL resets, so its size does not tell either).
   */
  private commitsPerCheckpoint = WAL_CHECKPOINT_PAGES / 5;
  /** A Defragment or a HashKV is running (one of each at a time). */
  private defragmenting = false;
  private hashing = false;
  private readonly limitLog: RateLimitedLog;
  /** Bumped when the db is replaced, so a flush of the old one does not checkpoint the new one. */
  private generation = 0;
  private applyBatch: (
    entries: readonly AppliedEntry[],
    first: number,
    results: (ApplyResult | undefined)[],
    out: RevisionEvents[],
  ) => void;

  private constructor(
    private readonly path: string,
    db: Database.Database,
    private readonly logger: Logger,
  ) {
    this.hub = new WatchHub(logger);
    this.limitLog = new RateLimitedLog(logger);
    this.core = new KvCore(db);
    this.applyBatch = this.makeApplyBatch();
    this.hasWal = !isMemoryPath(path);
  }

  static open(path: string, options: KvStateMachineOptions = {}): KvStateMachine {
    const logger = options.logger ?? createLogger('datastore.state');
    const sm = new KvStateMachine(path, openDatabase(path), logger);
    // A restore interrupted before its rename leaves its temp file; the db itself is the old one.
    // Removed only now that this process holds the db's lock.
    if (!isMemoryPath(path)) rmSync(restoreTempPath(path), { force: true });
    logger.info('state machine opened', {
      path,
      appliedIndex: sm.core.appliedIndex,
      revision: sm.core.revision,
      compactRevision: sm.core.compactRevision,
    });
    return sm;
  }

  private live(): KvCore {
    if (this.closed) throw new MicroK8sError('MK_STOPPED', 'the key-value state machine is closed');
    return this.core;
  }

  appliedIndex(): number {
    return this.live().appliedIndex;
  }

  /** The store revision: 1 for an empty store (etcd), +1 per command that changed keys. */
  revision(): number {
    return this.live().revision;
  }

  /** The revision of the last compaction, 0 if none. */
  compactRevision(): number {
    return this.live().compactRevision;
  }

  private makeApplyBatch() {
    return this.core.db.transaction(
      (
        entries: readonly AppliedEntry[],
        first: number,
        results: (ApplyResult | undefined)[],
        out: RevisionEvents[],
      ) => {
        const core = this.core;
        const record = this.hub.size > 0;
        for (let i = first; i < entries.length; i++) {
          const entry = entries[i]!;
          // Raft hands out committed entries contiguously; a gap would silently lose a command.
          assert(
            entry.index === core.appliedIndex + 1,
            () => `entry ${entry.index} applied after ${core.appliedIndex}: entries must be contiguous`,
          );
          core.appliedIndex = entry.index;
          if (entry.data.byteLength === 0) continue;
          results[i] = applyPayload(core, entry.data, record, out);
        }
        core.saveState();
      },
    );
  }

  /**
   * Apply committed entries in one SQLite transaction. Entries at or below the applied index are
   * skipped (undefined result), as are the results of empty entries. Rejected commands are
   * `{ ok: false }` results; only a bug or an I/O failure throws, and then nothing of the batch is
   * applied. Listeners get the batch's revisions after the commit.
   */
  applyEntries(entries: readonly AppliedEntry[]): (ApplyResult | undefined)[] {
    const core = this.live();
    const results: (ApplyResult | undefined)[] = new Array(entries.length).fill(undefined);
    let first = 0;
    while (first < entries.length && entries[first]!.index <= core.appliedIndex) first++;
    if (first === entries.length) return results;
    const out: RevisionEvents[] = [];
    try {
      this.applyBatch(entries, first, results, out);
    } catch (error) {
      // The transaction rolled back: bring the counters back to what the db holds.
      core.loadState();
      throw error;
    }
    if (out.length > 0) this.hub.publish(out);
    this.maybeCheckpoint();
    return results;
  }

  /**
   * Under synchronous=NORMAL a checkpoint first fdatasyncs the whole WAL (~1000 frames), and
   * SQLite does that on this thread: about 12 ms with the event loop blocked, every ~200 writes
   * on every node, a large part of the p99 of write and watch latency. Here the WAL is flushed on the thread pool
   * first, then the checkpoint runs (its own WAL sync finds little left to write; the db file's
   * sync is what stays, ~2 ms). SQLite still makes every sync it needs: this only moves the bulk
   * of the work off the event loop, so crash safety is SQLite's as before.
   */
  private maybeCheckpoint(): void {
    if (!this.hasWal) return;
    this.commitsSinceCheckpoint++;
    if (this.walFlushing || this.commitsSinceCheckpoint < this.commitsPerCheckpoint) return;
    void this.flushAndCheckpoint();
  }

  /** The WAL flushed on the thread pool, then a passive checkpoint; resolves when both are done. */
  private flushAndCheckpoint(): Promise<void> {
    const wal = `${this.path}-wal`;
    if (this.walFlushing || !existsSync(wal)) return Promise.resolve();
    this.walFlushing = true;
    const generation = this.generation;
    let resolve!: () => void;
    const finished = new Promise<void>((r) => {
      resolve = r;
    });
    const done = (error: unknown) => {
      try {
        checkpoint(error);
      } finally {
        resolve();
      }
    };
    const checkpoint = (error: unknown) => {
      this.walFlushing = false;
      if (this.closed || generation !== this.generation) return;
      if (error) {
        // SQLite's own checkpoint (the backstop) still runs: nothing is lost, only latency.
        this.logger.warn('WAL flush before a checkpoint failed', { error });
        return;
      }
      try {
        const [result] = this.core.db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[];
        const commits = this.commitsSinceCheckpoint;
        this.commitsSinceCheckpoint = 0;
        if (result !== undefined && result.log > 0 && commits > 0) {
          const perCommit = result.log / commits;
          this.commitsPerCheckpoint = Math.max(1, Math.round(WAL_CHECKPOINT_PAGES / perCommit));
        }
      } catch (failure) {
        this.logger.warn('WAL checkpoint failed', { error: failure });
      }
    };
    open(wal, 'r', (openError, fd) => {
      if (openError) return done(openError);
      fdatasync(fd, (syncError) => closeFd(fd, () => done(syncError)));
    });
    return finished;
  }

  /**
   * A local read (linearizability is the caller's business: ReadIndex first). Throws
   * MK_INVALID_ARGUMENT for an empty key, MK_FUTURE_REVISION and MK_COMPACTED with etcd's messages.
   */
  range(req: RangeRequest): RangeResponse {
    const core = this.live();
    checkKey(req.key);
    return readRange(core, req);
  }

  /** Called after each commit, once per new revision, in order; returns the unsubscribe function. */
  subscribe(listener: RevisionListener): () => void {
    this.live();
    return this.hub.subscribe(listener);
  }

  /**
   * The events of (key, rangeEnd) from `fromRevision` on, as subscribe delivered them, whole
   * revisions only, stopping once `limit` events are collected. MK_COMPACTED at or below the
   * compact revision.
   */
  history(
    fromRevision: number,
    key: Bytes,
    rangeEnd: Bytes | undefined,
    limit: number,
  ): { events: RevisionEvents[]; more: boolean } {
    return readHistory(this.live(), fromRevision, key, rangeEnd, limit);
  }

  leases(): LeaseInfo[] {
    const sql = this.live().sql;
    const keys = new Map<number, Bytes[]>();
    for (const row of sql.allLeaseKeys.iterate() as Iterable<{ lease: number; key: Buffer }>) {
      const list = keys.get(row.lease);
      if (list === undefined) keys.set(row.lease, [plainBytes(row.key)]);
      else list.push(plainBytes(row.key));
    }
    return (sql.allLeases.all() as { id: number; ttl: number }[]).map((l) => ({
      id: l.id,
      ttl: l.ttl,
      keys: keys.get(l.id) ?? [],
    }));
  }

  /** The members' replicated placement facts (failure domain, weight, draining), by id. */
  members(): MemberInfo[] {
    return this.live().members();
  }

  lease(id: number): LeaseInfo | undefined {
    const sql = this.live().sql;
    const row = sql.getLease.get(id) as { id: number; ttl: number } | undefined;
    if (row === undefined) return undefined;
    const keys = (sql.leaseKeys.all(id) as { key: Buffer }[]).map((k) => plainBytes(k.key));
    return { id: row.id, ttl: row.ttl, keys };
  }

  /**
   * A consistent image of the whole database, applied index included. The header is marked as a
   * rollback-journal db so that the image opens anywhere, in memory too; open() turns WAL back on.
   */
  snapshot(): Uint8Array {
    const image = this.live().db.serialize();
    image[HEADER_WRITE_VERSION] = 1;
    image[HEADER_READ_VERSION] = 1;
    return plainBytes(image);
  }

  /**
   * Replace the whole state with a snapshot. The image is checked first (SQLite header, structure,
   * schema, state row); a bad one is MK_DATA_CORRUPTION and the current db stays as it was. A file
   * db is replaced by an atomic rename, so a crash leaves either the old or the new state.
   */
  restore(data: Uint8Array): void {
    this.live();
    const candidate = this.validateImage(data);
    let db: Database.Database;
    if (isMemoryPath(this.path)) {
      configure(candidate, true);
      this.core.db.close();
      db = candidate;
    } else {
      candidate.close();
      db = this.replaceFile(data);
    }
    this.adopt(db);
    this.logger.info('state restored from a snapshot', {
      appliedIndex: this.core.appliedIndex,
      revision: this.core.revision,
      bytes: data.byteLength,
    });
  }

  private validateImage(data: Uint8Array): Database.Database {
    if (!(data instanceof Uint8Array) || data.byteLength < 100)
      throw corruption('snapshot too short to be a database');
    if (Buffer.from(data.buffer, data.byteOffset, SQLITE_MAGIC.length).toString('latin1') !== SQLITE_MAGIC) {
      throw corruption('snapshot is not an SQLite database image');
    }
    // A private copy: the in-memory db must not alias the caller's buffer.
    const image = Buffer.from(data);
    image[HEADER_WRITE_VERSION] = 1;
    image[HEADER_READ_VERSION] = 1;
    let db: Database.Database | undefined;
    try {
      db = new Database(image);
      checkIntegrity(db);
      readPersistedState(db);
      return db;
    } catch (error) {
      db?.close();
      if (error instanceof MicroK8sError) throw error;
      throw corruption(`snapshot does not open as a database: ${(error as Error).message}`, error);
    }
  }

  private replaceFile(data: Uint8Array): Database.Database {
    const temp = restoreTempPath(this.path);
    const fd = openSync(temp, 'w');
    try {
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // Fold the WAL into the old file before closing, so no stale WAL can outlive the rename.
    this.core.db.pragma('wal_checkpoint(TRUNCATE)');
    this.core.db.close();
    try {
      renameSync(temp, this.path);
      for (const suffix of ['-wal', '-shm']) {
        if (existsSync(this.path + suffix)) rmSync(this.path + suffix, { force: true });
      }
      fsyncDirectorySync(dirname(this.path));
    } catch (error) {
      // The rename did not happen (or did and only the cleanup failed): reopen what is there.
      rmSync(temp, { force: true });
      this.adopt(openDatabase(this.path));
      throw error;
    }
    return openDatabase(this.path);
  }

  private adopt(db: Database.Database): void {
    this.generation++;
    this.core = new KvCore(db);
    this.applyBatch = this.makeApplyBatch();
  }

  /**
   * sha256 over the live key space (key, value, create, mod, version, lease, in key order) and the
   * revision: equal on replicas that applied the same entries.
   */
  hash(): string {
    const core = this.live();
    const hash = createHash('sha256');
    const numbers = Buffer.alloc(8 * 5);
    for (const row of core.sql.hashRows.iterate() as Iterable<{
      key: Buffer;
      value: Buffer;
      create_rev: number;
      mod_rev: number;
      version: number;
      lease: number;
    }>) {
      numbers.writeDoubleBE(row.key.byteLength, 0);
      numbers.writeDoubleBE(row.value.byteLength, 8);
      numbers.writeDoubleBE(row.create_rev, 16);
      numbers.writeDoubleBE(row.mod_rev, 24);
      numbers.writeDoubleBE(row.version, 32);
      hash.update(numbers);
      numbers.writeDoubleBE(row.lease, 0);
      hash.update(numbers.subarray(0, 8));
      hash.update(row.key);
      hash.update(row.value);
    }
    numbers.writeDoubleBE(core.revision, 0);
    hash.update(numbers.subarray(0, 8));
    return hash.digest('hex');
  }

  /**
   * Make everything applied so far durable: commits under synchronous=NORMAL reach the WAL without
   * an fsync, so before the Raft log drops entries the caller checkpoints (WAL synced, copied into
   * the db file, db file synced, WAL truncated).
   */
  checkpoint(): void {
    const db = this.live().db;
    if (isMemoryPath(this.path)) return;
    const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as {
      busy: number;
      log: number;
      checkpointed: number;
    }[];
    assert(
      result !== undefined && result.busy === 0,
      () => `WAL checkpoint blocked: ${JSON.stringify(result)}`,
    );
  }

  /**
   * etcd's HashKV: a CRC-32 over every revision still stored up to `revision` (0: the current
   * one), in revision order. Replicas with the same history and compactions agree, so members
   * can be compared for consistency.
   *
   * Read in slices of HASH_KV_STEP_ROWS rows with the event loop free between them (a full scan
   * of a large store would hold up Raft's heartbeats). Rows up to the hash revision only change
   * by a compaction or a restored snapshot: either restarts the scan (bounded), and one HashKV
   * runs at a time on a member.
   */
  async hashKV(revision: number): Promise<{ hash: number; compactRevision: number; hashRevision: number }> {
    if (this.hashing) throw this.busy('a HashKV is already running on this member', 'HASH_KV_CONCURRENCY');
    this.hashing = true;
    try {
      for (let attempt = 0; attempt < HASH_KV_ATTEMPTS; attempt++) {
        const result = await this.hashKvOnce(revision);
        if (result !== undefined) return result;
      }
      throw new MicroK8sError(
        'MK_TIMEOUT',
        `HashKV: the store changed under ${HASH_KV_ATTEMPTS} scans in a row`,
      );
    } finally {
      this.hashing = false;
    }
  }

  private async hashKvOnce(
    revision: number,
  ): Promise<{ hash: number; compactRevision: number; hashRevision: number } | undefined> {
    const core = this.live();
    const generation = this.generation;
    const compactAtStart = core.compactRevision;
    const rev = revision > 0 ? revision : core.revision;
    if (rev > core.revision) throw futureRevisionError();
    if (revision > 0 && rev < core.compactRevision) throw compactedError();
    let crc = 0;
    const numbers = Buffer.alloc(8 * 5);
    const slice = core.db.prepare(
      'SELECT id, key, rev, deleted, create_rev, version, lease, value FROM log WHERE id > ? AND rev <= +? ORDER BY id LIMIT ?',
    );
    let lastId = 0;
    for (;;) {
      const rows = slice.all(lastId, rev, HASH_KV_STEP_ROWS) as {
        id: number;
        key: Buffer;
        rev: number;
        deleted: number;
        create_rev: number;
        version: number;
        lease: number;
        value: Buffer;
      }[];
      for (const row of rows) {
        numbers.writeDoubleBE(row.rev, 0);
        numbers.writeDoubleBE(row.deleted, 8);
        numbers.writeDoubleBE(row.create_rev, 16);
        numbers.writeDoubleBE(row.version, 24);
        numbers.writeDoubleBE(row.lease, 32);
        crc = crc32(numbers, crc);
        crc = crc32(row.key, crc);
        crc = crc32(row.value, crc);
        lastId = row.id;
      }
      if (rows.length < HASH_KV_STEP_ROWS) break;
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.live() !== core || this.generation !== generation) return undefined;
      if (core.compactRevision !== compactAtStart) {
        if (revision > 0 && rev < core.compactRevision) throw compactedError();
        return undefined;
      }
    }
    // etcd answers -1 as the compact revision of a store that was never compacted.
    return {
      hash: crc >>> 0,
      compactRevision: core.compactRevision > 0 ? core.compactRevision : -1,
      hashRevision: rev,
    };
  }

  /**
   * Give the database file's free pages back (etcd's Defragment), DEFRAG_STEP_PAGES at a time on
   * this connection, with the WAL checkpointed and the event loop free between slices.
   *
   * Not a VACUUM on a second connection: the state database is opened with locking_mode=EXCLUSIVE
   * (no other connection can even read it while the node runs), and a VACUUM holds the write lock
   * for its whole run, so the applier's transactions (busy timeout 0) would fail meanwhile. An
   * incremental vacuum step is a short write transaction of its own, taken between two applies.
   * It returns free pages; it does not re-pack the pages in use, which etcd's defragmentation does
   * but which is not what a client asks Defragment for (the space). One runs at a time.
   */
  async defragment(): Promise<void> {
    if (isMemoryPath(this.path)) return;
    if (this.defragmenting)
      throw this.busy('a defragment is already running on this member', 'DEFRAG_CONCURRENCY');
    this.defragmenting = true;
    try {
      const core = this.live();
      const generation = this.generation;
      const free = core.db.pragma('freelist_count', { simple: true }) as number;
      // Bounded: pages freed meanwhile (a compaction) are left for the next defragment.
      const steps = Math.ceil(free / DEFRAG_STEP_PAGES);
      for (let step = 0; step < steps; step++) {
        if (this.closed || this.core !== core || this.generation !== generation) return;
        core.db.pragma(`incremental_vacuum(${DEFRAG_STEP_PAGES})`);
        await this.flushAndCheckpoint();
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.defragmenting = false;
    }
  }

  /** One HashKV and one Defragment at a time: a second is refused, with a rate-limited line. */
  private busy(message: string, limit: string): MicroK8sError {
    const error = new MicroK8sError('MK_LIMIT_EXCEEDED', message, { limit });
    this.limitLog.warn(limit, 'refused a maintenance request', { error });
    return error;
  }

  /** Bytes of the database file (pages in use and free). */
  dbSize(): number {
    const db = this.live().db;
    return (
      (db.pragma('page_count', { simple: true }) as number) *
      (db.pragma('page_size', { simple: true }) as number)
    );
  }

  /** Bytes of the pages in use (what a Defragment would leave). */
  dbSizeInUse(): number {
    const db = this.live().db;
    const pages =
      (db.pragma('page_count', { simple: true }) as number) -
      (db.pragma('freelist_count', { simple: true }) as number);
    return pages * (db.pragma('page_size', { simple: true }) as number);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.core.db.close();
  }
}
