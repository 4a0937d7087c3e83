/**
 * Replay of the log for a watch that starts at an old revision. It produces exactly the events
 * that were delivered live for those revisions (same kv, same prevKv), from the log rows and
 * their previous versions.
 */
import { assert } from '../../lib/assert.js';
import { EMPTY_BYTES, keySpan, plainBytes, spanParams } from './bytes.js';
import { compactedError } from './failures.js';
import { type KvCore, makeKv } from './mvcc.js';
import type { EventRow } from './sql.js';
import type { KeyValue, RevisionEvents, WatchEvent } from './types.js';

function prevKv(row: EventRow, key: Uint8Array): KeyValue | undefined {
  if (row.p_rev === null) return undefined;
  return makeKv(key, plainBytes(row.p_value!), row.p_create_rev!, row.p_rev, row.p_version!, row.p_lease!);
}

function rowToEvent(row: EventRow): WatchEvent {
  const key = plainBytes(row.key);
  const prev = prevKv(row, key);
  if (row.deleted) {
    // A tombstone always points at the version it deleted, and that row outlives the tombstone.
    assert(prev !== undefined, 'a delete event without its previous version');
    return { type: 'delete', kv: makeKv(key, EMPTY_BYTES, 0, row.rev, 0, 0), prevKv: prev };
  }
  const kv = makeKv(key, plainBytes(row.value), row.create_rev, row.rev, row.version, row.lease);
  return prev === undefined ? { type: 'put', kv } : { type: 'put', kv, prevKv: prev };
}

/**
 * Events of the keys of (key, rangeEnd) from `fromRevision` on, grouped by revision. A revision is
 * never split: the replay stops at the first revision boundary once `limit` events are collected,
 * and `more` says there are further revisions with matching events.
 */
export function readHistory(
  core: KvCore,
  fromRevision: number,
  key: Uint8Array,
  rangeEnd: Uint8Array | undefined,
  limit: number,
): { events: RevisionEvents[]; more: boolean } {
  assert(Number.isSafeInteger(fromRevision), 'fromRevision must be an integer');
  assert(Number.isSafeInteger(limit) && limit >= 1, 'limit must be a positive integer');
  // Like etcd, the compact revision itself can still be watched: only older ones are gone.
  if (fromRevision < core.compactRevision) throw compactedError();
  if (fromRevision > core.revision) return { events: [], more: false };
  const span = keySpan(key, rangeEnd);
  const start = core.firstEventIdAtOrAfter(fromRevision);
  const out: RevisionEvents[] = [];
  let current: WatchEvent[] = [];
  let currentRevision = -1;
  let count = 0;
  let more = false;
  for (const row of core.sql.events(span.kind).iterate(start, ...spanParams(span)) as Iterable<EventRow>) {
    if (row.rev !== currentRevision) {
      if (count >= limit) {
        more = true;
        break;
      }
      current = [];
      currentRevision = row.rev;
      out.push({ revision: row.rev, events: current });
    }
    current.push(rowToEvent(row));
    count++;
  }
  return { events: out, more };
}
