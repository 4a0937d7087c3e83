/**
 * Range reads with etcd's semantics, served from the live table at the current revision and from
 * the log at an older one.
 *
 * etcd's order of work, kept here: the count is the number of keys in the span at the read
 * revision, before the min/max revision filters and before the limit; the filters, then the sort,
 * then the limit apply to the fetched keys, and `more` says the limit cut filtered keys off. When
 * there is no filter and the order is by key, the limit is pushed into SQL (limit + 1 rows tell
 * `more`) and the count is a separate index-only count only if the limit did cut. Sorting by
 * another target is stable over key order, so ties come out in ascending key order (etcd leaves
 * them unspecified).
 */
import { compareBytes, EMPTY_BYTES, type KeySpan, keySpan, spanParams } from './bytes.js';
import { compactedError, ETCD_MESSAGES, futureRevisionError, invalidArgument } from './failures.js';
import { type KvCore, rowToKv } from './mvcc.js';
import type { KeyRow } from './sql.js';
import type { KeyValue, RangeRequest, RangeResponse, SortTarget } from './types.js';

/** The revision errors etcd checks before a read, against the revision `current`. */
export function checkReadRevision(core: KvCore, revision: number | undefined, current: number): void {
  const rev = revision ?? 0;
  if (rev > current) throw futureRevisionError();
  if (rev > 0 && rev < core.compactRevision) throw compactedError();
}

export function checkKey(key: Uint8Array): void {
  if (key.byteLength === 0) throw invalidArgument(ETCD_MESSAGES.emptyKey);
}

function fetchRows(
  core: KvCore,
  span: KeySpan,
  at: number,
  historical: boolean,
  descending: boolean,
  withValue: boolean,
  limit: number,
): KeyRow[] {
  const params: unknown[] = spanParams(span);
  if (historical) {
    params.push(at, limit);
    return core.sql.historicalRows(span.kind, descending, withValue).all(...params) as KeyRow[];
  }
  params.push(limit);
  return core.sql.liveRows(span.kind, descending, withValue).all(...params) as KeyRow[];
}

function countRows(core: KvCore, span: KeySpan, at: number, historical: boolean): number {
  const params: unknown[] = spanParams(span);
  if (historical) {
    params.push(at);
    return (core.sql.historicalCount(span.kind).get(...params) as { n: number }).n;
  }
  return (core.sql.liveCount(span.kind).get(...params) as { n: number }).n;
}

function sortKey(kv: KeyValue, target: Exclude<SortTarget, 'key'>): number {
  switch (target) {
    case 'version':
      return kv.version;
    case 'create':
      return kv.createRevision;
    case 'mod':
      return kv.modRevision;
    default:
      return 0;
  }
}

function hasFilter(req: RangeRequest): boolean {
  return Boolean(req.minModRevision || req.maxModRevision || req.minCreateRevision || req.maxCreateRevision);
}

function passesFilters(kv: KeyValue, req: RangeRequest): boolean {
  if (req.maxModRevision && kv.modRevision > req.maxModRevision) return false;
  if (req.minModRevision && kv.modRevision < req.minModRevision) return false;
  if (req.maxCreateRevision && kv.createRevision > req.maxCreateRevision) return false;
  if (req.minCreateRevision && kv.createRevision < req.minCreateRevision) return false;
  return true;
}

/**
 * A range at the view of `core` (inside a write, that view includes the command's own earlier
 * changes). The caller has checked the key; revision errors are thrown as CommandRejected.
 */
export function readRange(core: KvCore, req: RangeRequest): RangeResponse {
  const current = core.viewRevision();
  checkReadRevision(core, req.revision, current);
  const at = req.revision !== undefined && req.revision > 0 ? req.revision : current;
  const historical = at < current;
  const span = keySpan(req.key, req.rangeEnd);
  const limit = req.limit !== undefined && req.limit > 0 ? req.limit : 0;

  if (req.countOnly) {
    return { kvs: [], more: false, count: countRows(core, span, at, historical), revision: current };
  }

  const target = req.sortTarget ?? 'key';
  let order = req.sortOrder ?? 'none';
  if (target !== 'key' && order === 'none') order = 'ascend';
  if (target === 'key' && order === 'ascend') order = 'none';
  const withValue = !req.keysOnly;

  if (target === 'key' && !hasFilter(req)) {
    const rows = fetchRows(
      core,
      span,
      at,
      historical,
      order === 'descend',
      withValue,
      limit > 0 ? limit + 1 : -1,
    );
    const more = limit > 0 && rows.length > limit;
    if (more) rows.length = limit;
    const count = more ? countRows(core, span, at, historical) : rows.length;
    return { kvs: rows.map(rowToKv), more, count, revision: current };
  }

  if (req.sortOrder === undefined || req.sortOrder === 'none') {
    if (limit > 0 && !hasFilter(req) && target !== 'key') {
      // etcd's own rule: with no sort order asked, it fetches limit + 1 keys in key order and
      // only then sorts those by the target (ascending) and cuts; it does not sort the range.
      const rows = fetchRows(core, span, at, historical, false, withValue || target === 'value', limit + 1);
      const more = rows.length > limit;
      const count = more ? countRows(core, span, at, historical) : rows.length;
      let kvs = rows.map(rowToKv);
      if (target === 'value') kvs.sort((a, b) => compareBytes(a.value, b.value));
      else kvs.sort((a, b) => sortKey(a, target) - sortKey(b, target));
      if (more) kvs.length = limit;
      if (!withValue) kvs = kvs.map((kv) => (kv.value.byteLength === 0 ? kv : { ...kv, value: EMPTY_BYTES }));
      return { kvs, more, count, revision: current };
    }
  }

  // Filters or a non-key sort: fetch the whole span in key order, then filter, sort, cut.
  const rows = fetchRows(core, span, at, historical, false, withValue || target === 'value', -1);
  const count = rows.length;
  let kvs = rows.map(rowToKv);
  if (hasFilter(req)) kvs = kvs.filter((kv) => passesFilters(kv, req));
  if (order !== 'none') {
    const sign = order === 'descend' ? -1 : 1;
    if (target === 'key') kvs.reverse();
    else if (target === 'value') kvs.sort((a, b) => sign * compareBytes(a.value, b.value));
    else kvs.sort((a, b) => sign * (sortKey(a, target) - sortKey(b, target)));
  }
  const more = limit > 0 && kvs.length > limit;
  if (more) kvs.length = limit;
  if (!withValue) kvs = kvs.map((kv) => (kv.value.byteLength === 0 ? kv : { ...kv, value: EMPTY_BYTES }));
  return { kvs, more, count, revision: current };
}
