/**
 * Prepared statements, prepared once per connection. The range reads come in variants (span
 * kind, direction, with or without values, live or historical); each variant is prepared on
 * first use and cached, so the SQL text stays static and every plan is index-driven.
 *
 * Every parameter in a WHERE or LIMIT clause is written `+?`. SQLite (3.54, built with STAT4 as
 * better-sqlite3 ships it) lets the planner peek at bound values of a bare `?` in LIMIT, in range
 * terms and in joins, and then re-prepares the statement each time a new value is bound: a point
 * read cost ~20 µs instead of ~3 µs. The unary plus hides the value from the planner without
 * changing the plan (the column side stays bare, so indexes are used as before).
 */
import type Database from 'better-sqlite3';
import type { KeySpan } from './bytes.js';

/** A live key (or, in a historical read, the key's latest row at the read revision). */
export interface KeyRow {
  readonly key: Buffer;
  readonly mod_rev: number;
  readonly create_rev: number;
  readonly version: number;
  readonly lease: number;
  readonly log_id: number;
  /** Present when the statement selected it. */
  readonly value?: Buffer;
}

/** A log row with its previous live version (p_*), for history replay. */
export interface EventRow {
  readonly id: number;
  readonly key: Buffer;
  readonly rev: number;
  readonly deleted: number;
  readonly create_rev: number;
  readonly version: number;
  readonly lease: number;
  readonly value: Buffer;
  readonly p_rev: number | null;
  readonly p_create_rev: number | null;
  readonly p_version: number | null;
  readonly p_lease: number | null;
  readonly p_value: Buffer | null;
}

type Stmt = Database.Statement;
type SpanKind = KeySpan['kind'];

/** The key condition of a span; its parameters are `spanParams(span)`. */
function spanWhere(column: string, kind: SpanKind): string {
  switch (kind) {
    case 'point':
      return `${column} = +?`;
    case 'from':
      return `${column} >= +?`;
    case 'range':
      return `${column} >= +? AND ${column} < +?`;
  }
}

export class Statements {
  readonly getState: Stmt;
  readonly saveState: Stmt;
  readonly getLive: Stmt;
  readonly getLiveWithValue: Stmt;
  readonly insertLog: Stmt;
  readonly upsertLive: Stmt;
  readonly deleteLive: Stmt;
  readonly firstEventAtOrAfter: Stmt;
  readonly compactSuperseded: Stmt;
  readonly compactTombstones: Stmt;
  readonly getLease: Stmt;
  readonly insertLease: Stmt;
  readonly deleteLease: Stmt;
  readonly allLeases: Stmt;
  readonly allLeaseKeys: Stmt;
  readonly leaseKeys: Stmt;
  readonly leaseRows: Stmt;
  readonly leaseRowsWithValue: Stmt;
  readonly hashRows: Stmt;
  readonly upsertMember: Stmt;
  readonly allMembers: Stmt;
  readonly deleteMember: Stmt;
  private readonly variants = new Map<string, Stmt>();

  constructor(private readonly db: Database.Database) {
    this.upsertMember = db.prepare(
      'INSERT INTO member (id, failure_domain, weight, draining, peer_address, client_url, removal) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET failure_domain = excluded.failure_domain, weight = excluded.weight, draining = excluded.draining, peer_address = excluded.peer_address, client_url = excluded.client_url, removal = excluded.removal',
    );
    this.allMembers = db.prepare(
      'SELECT id, failure_domain AS failureDomain, weight, draining, peer_address AS peerAddress, client_url AS clientUrl, removal FROM member ORDER BY id',
    );
    this.deleteMember = db.prepare('DELETE FROM member WHERE id = ?');
    this.getState = db.prepare(
      'SELECT applied_index AS appliedIndex, revision, compact_revision AS compactRevision, next_event_id AS nextEventId FROM state WHERE one = 1',
    );
    this.saveState = db.prepare(
      'UPDATE state SET applied_index = ?, revision = ?, compact_revision = ?, next_event_id = ? WHERE one = 1',
    );
    this.getLive = db.prepare(
      'SELECT key, mod_rev, create_rev, version, lease, log_id FROM live WHERE key = +?',
    );
    this.getLiveWithValue = db.prepare(
      'SELECT c.key, c.mod_rev, c.create_rev, c.version, c.lease, c.log_id, l.value FROM live AS c CROSS JOIN log AS l ON l.id = c.log_id WHERE c.key = +?',
    );
    this.insertLog = db.prepare(
      'INSERT INTO log (id, key, rev, deleted, create_rev, version, lease, prev_id, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.upsertLive = db.prepare(
      `INSERT INTO live (key, mod_rev, create_rev, version, lease, log_id) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET mod_rev = excluded.mod_rev, create_rev = excluded.create_rev,
         version = excluded.version, lease = excluded.lease, log_id = excluded.log_id`,
    );
    this.deleteLive = db.prepare('DELETE FROM live WHERE key = +?');
    this.firstEventAtOrAfter = db.prepare('SELECT id, rev FROM log WHERE id >= +? ORDER BY id LIMIT 1');
    // Rows superseded by a change in the id window [?, ?): the previous live version of each changed key.
    this.compactSuperseded = db.prepare(
      'DELETE FROM log WHERE id IN (SELECT prev_id FROM log WHERE id >= +? AND id < +? AND prev_id != 0)',
    );
    this.compactTombstones = db.prepare('DELETE FROM log WHERE id >= +? AND id < +? AND deleted = 1');
    this.getLease = db.prepare('SELECT id, ttl FROM lease WHERE id = +?');
    this.insertLease = db.prepare('INSERT INTO lease (id, ttl) VALUES (?, ?)');
    this.deleteLease = db.prepare('DELETE FROM lease WHERE id = +?');
    this.allLeases = db.prepare('SELECT id, ttl FROM lease ORDER BY id');
    this.allLeaseKeys = db.prepare('SELECT lease, key FROM live WHERE lease != 0 ORDER BY lease, key');
    this.leaseKeys = db.prepare('SELECT key FROM live WHERE lease = +? AND lease != 0 ORDER BY key');
    this.leaseRows = db.prepare(
      'SELECT key, mod_rev, create_rev, version, lease, log_id FROM live WHERE lease = +? AND lease != 0 ORDER BY key',
    );
    this.leaseRowsWithValue = db.prepare(
      `SELECT c.key, c.mod_rev, c.create_rev, c.version, c.lease, c.log_id, l.value
       FROM live AS c CROSS JOIN log AS l ON l.id = c.log_id WHERE c.lease = +? AND c.lease != 0 ORDER BY c.key`,
    );
    this.hashRows = db.prepare(
      'SELECT c.key, c.mod_rev, c.create_rev, c.version, c.lease, l.value FROM live AS c CROSS JOIN log AS l ON l.id = c.log_id ORDER BY c.key',
    );
  }

  private variant(name: string, sql: () => string): Stmt {
    let stmt = this.variants.get(name);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql());
      this.variants.set(name, stmt);
    }
    return stmt;
  }

  /** Live keys of a span in key order; params: span, limit (-1 for none). */
  liveRows(kind: SpanKind, descending: boolean, withValue: boolean): Stmt {
    return this.variant(`live:${kind}:${descending}:${withValue}`, () =>
      withValue
        ? `SELECT c.key, c.mod_rev, c.create_rev, c.version, c.lease, c.log_id, l.value
           FROM live AS c CROSS JOIN log AS l ON l.id = c.log_id
           WHERE ${spanWhere('c.key', kind)} ORDER BY c.key ${descending ? 'DESC' : 'ASC'} LIMIT +?`
        : `SELECT key, mod_rev, create_rev, version, lease, log_id FROM live
           WHERE ${spanWhere('key', kind)} ORDER BY key ${descending ? 'DESC' : 'ASC'} LIMIT +?`,
    );
  }

  /** Number of live keys in a span; params: span. */
  liveCount(kind: SpanKind): Stmt {
    return this.variant(
      `liveCount:${kind}`,
      () => `SELECT count(*) AS n FROM live WHERE ${spanWhere('key', kind)}`,
    );
  }

  /**
   * Keys of a span as of revision R, in key order: per key the row with the largest rev <= R
   * (SQLite takes the bare columns id and deleted from that row), kept if it is not a tombstone.
   * The inner scan is covered by log(key, rev, deleted); values are fetched by rowid for the
   * winners only. Params: span, R, limit.
   */
  historicalRows(kind: SpanKind, descending: boolean, withValue: boolean): Stmt {
    return this.variant(`hist:${kind}:${descending}:${withValue}`, () => {
      const dir = descending ? 'DESC' : 'ASC';
      return `SELECT l.key, l.rev AS mod_rev, l.create_rev, l.version, l.lease, l.id AS log_id${withValue ? ', l.value' : ''}
        FROM (SELECT key AS k, max(rev) AS r, deleted AS d, id AS i FROM log
              WHERE ${spanWhere('key', kind)} AND rev <= +? GROUP BY key ORDER BY key ${dir}) AS m
        CROSS JOIN log AS l ON l.id = m.i
        WHERE m.d = 0 ORDER BY m.k ${dir} LIMIT +?`;
    });
  }

  /** Number of keys of a span live at revision R; params: span, R. */
  historicalCount(kind: SpanKind): Stmt {
    return this.variant(
      `histCount:${kind}`,
      () =>
        `SELECT count(*) AS n FROM (SELECT max(rev) AS r, deleted AS d FROM log
         WHERE ${spanWhere('key', kind)} AND rev <= +? GROUP BY key) WHERE d = 0`,
    );
  }

  /**
   * Changes of a span from a log id on, in id order, with the previous version; params: id, span.
   * The key terms are kept out of index selection (unary +): a watch replays recent revisions, so
   * walking the log by rowid from the start id beats collecting a prefix's whole past and sorting.
   */
  events(kind: SpanKind): Stmt {
    return this.variant(
      `events:${kind}`,
      () =>
        `SELECT l.id, l.key, l.rev, l.deleted, l.create_rev, l.version, l.lease, l.value,
           p.rev AS p_rev, p.create_rev AS p_create_rev, p.version AS p_version, p.lease AS p_lease, p.value AS p_value
         FROM log AS l LEFT JOIN log AS p ON p.id = l.prev_id
         WHERE l.id >= +? AND ${spanWhere('+l.key', kind)} ORDER BY l.id`,
    );
  }
}
