/**
 * The SQLite schema of the state machine.
 *
 * - `log`: one row per change of a key (kine-like). `id` is an event sequence number, assigned in
 *   apply order, so id order is (revision, position within the revision) order and revisions grow
 *   with id. A put row carries the new version; a delete row is a tombstone (deleted = 1, version 0,
 *   create_rev 0). `prev_id` points at the row of the previous live version (0 when the change
 *   created the key): it gives the prevKv of watch events and lets compaction find superseded
 *   rows through rowid lookups. The value lives only here, written once.
 * - `live`: the current state, one small row per live key, clustered by key (WITHOUT ROWID), with
 *   `log_id` pointing at the value. Current reads scan it in key order and fetch values by rowid.
 * - `lease`: granted leases; a key's lease is in `live.lease` (partial index for lease != 0).
 * - `member`: the datastore members' addresses and placement facts (failure domain, weight,
 *   draining), replicated so that every node knows how to reach every member and whichever node
 *   leads plans roles from the same facts. No revision, no watch event.
 * - `state`: a single row: applied index, store revision, compact revision, next event id. It is
 *   written in the same transaction as the changes, so the db alone says where apply stopped.
 *
 * Indexes: log(key, rev, deleted) drives historical reads (latest row <= R per key, covering) and
 * keeps tombstone checks in the index; history replay and compaction walk log by rowid (the
 * revision -> first id mapping is a binary search over rowids, so no index on rev is maintained on
 * the write path).
 */
import type Database from 'better-sqlite3';
import { MicroK8sError } from '../../lib/errors.js';

/** Bumped when the schema changes incompatibly; a db with another format is refused. */
export const SCHEMA_FORMAT = 1;

/** etcd semantics: an empty store is at revision 1; the first write gets revision 2. */
export const INITIAL_REVISION = 1;

const DDL = `
CREATE TABLE state (
  one INTEGER PRIMARY KEY CHECK (one = 1),
  format INTEGER NOT NULL,
  applied_index INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  compact_revision INTEGER NOT NULL,
  next_event_id INTEGER NOT NULL
);
CREATE TABLE log (
  id INTEGER PRIMARY KEY,
  key BLOB NOT NULL,
  rev INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  create_rev INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL,
  prev_id INTEGER NOT NULL,
  value BLOB NOT NULL
);
CREATE INDEX log_key_rev ON log (key, rev, deleted);
CREATE TABLE live (
  key BLOB PRIMARY KEY,
  mod_rev INTEGER NOT NULL,
  create_rev INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL,
  log_id INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX live_lease ON live (lease, key) WHERE lease != 0;
CREATE TABLE lease (
  id INTEGER PRIMARY KEY,
  ttl INTEGER NOT NULL
);
CREATE TABLE member (
  id INTEGER PRIMARY KEY,
  failure_domain TEXT NOT NULL,
  weight INTEGER NOT NULL,
  draining INTEGER NOT NULL,
  peer_address TEXT NOT NULL,
  client_url TEXT NOT NULL,
  removal INTEGER NOT NULL
);
`;

const TABLES = ['lease', 'live', 'log', 'member', 'state'];

export interface PersistedState {
  readonly format: number;
  readonly appliedIndex: number;
  readonly revision: number;
  readonly compactRevision: number;
  readonly nextEventId: number;
}

function corrupt(message: string, cause?: unknown): MicroK8sError {
  return new MicroK8sError('MK_DATA_CORRUPTION', message, {}, cause === undefined ? undefined : { cause });
}

/** Create the schema in an empty db, in one transaction. */
export function createSchema(db: Database.Database): void {
  db.transaction(() => {
    db.exec(DDL);
    db.prepare(
      'INSERT INTO state (one, format, applied_index, revision, compact_revision, next_event_id) VALUES (1, ?, 0, ?, 0, 1)',
    ).run(SCHEMA_FORMAT, INITIAL_REVISION);
  })();
}

export function isEmptyDb(db: Database.Database): boolean {
  const row = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as {
    n: number;
  };
  return row.n === 0;
}

/** Read and check the state row and the table set; MK_DATA_CORRUPTION if this is not our db. */
export function readPersistedState(db: Database.Database): PersistedState {
  let tables: string[];
  let row: Record<string, unknown> | undefined;
  try {
    tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
        name: string;
      }[]
    ).map((t) => t.name);
    if (tables.join(',') !== TABLES.join(',')) throw corrupt(`unexpected tables: ${tables.join(', ')}`);
    row = db
      .prepare(
        'SELECT format, applied_index AS appliedIndex, revision, compact_revision AS compactRevision, next_event_id AS nextEventId FROM state WHERE one = 1',
      )
      .get() as Record<string, unknown> | undefined;
  } catch (error) {
    if (error instanceof MicroK8sError) throw error;
    throw corrupt(`not a state machine database: ${(error as Error).message}`, error);
  }
  if (row === undefined) throw corrupt('the state row is missing');
  const state = row as unknown as PersistedState;
  if (state.format !== SCHEMA_FORMAT) {
    throw corrupt(`unsupported state format ${String(state.format)} (this node reads ${SCHEMA_FORMAT})`);
  }
  const sane =
    Number.isSafeInteger(state.appliedIndex) &&
    state.appliedIndex >= 0 &&
    Number.isSafeInteger(state.revision) &&
    state.revision >= INITIAL_REVISION &&
    Number.isSafeInteger(state.compactRevision) &&
    state.compactRevision >= 0 &&
    state.compactRevision <= state.revision &&
    Number.isSafeInteger(state.nextEventId) &&
    state.nextEventId >= 1;
  if (!sane) throw corrupt(`inconsistent state row: ${JSON.stringify(row)}`);
  return state;
}

/** SQLite's own structural check; 'ok' or MK_DATA_CORRUPTION. */
export function checkIntegrity(db: Database.Database): void {
  let result: unknown;
  try {
    result = db.pragma('quick_check', { simple: true });
  } catch (error) {
    throw corrupt(`integrity check failed: ${(error as Error).message}`, error);
  }
  if (result !== 'ok') throw corrupt(`integrity check failed: ${String(result)}`);
}
