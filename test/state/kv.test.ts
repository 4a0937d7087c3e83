import Database from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSchema } from '../../src/datastore/state/schema.js';
import { Statements } from '../../src/datastore/state/sql.js';
import { b, Harness, keys, pairs, str, throwsCode, ZERO } from './helpers.js';

const COMPACTED = 'etcdserver: mvcc: required revision has been compacted';
const FUTURE = 'etcdserver: mvcc: required revision is a future revision';

test('an empty store is at revision 1 (etcd) with nothing in it', () => {
  const h = new Harness();
  assert.is(h.sm.revision(), 1);
  assert.is(h.sm.compactRevision(), 0);
  assert.is(h.sm.appliedIndex(), 0);
  assert.equal(h.sm.range({ key: ZERO, rangeEnd: ZERO }), { kvs: [], more: false, count: 0, revision: 1 });
});

test('put creates at the next revision, update keeps create and bumps version', () => {
  const h = new Harness();
  assert.equal(h.put('a', '1'), { revision: 2 });
  assert.equal(h.get('a'), {
    key: b('a'),
    value: b('1'),
    createRevision: 2,
    modRevision: 2,
    version: 1,
    lease: 0,
  });
  const r = h.put('a', '2', { prevKv: true });
  assert.equal(r, {
    revision: 3,
    prevKv: { key: b('a'), value: b('1'), createRevision: 2, modRevision: 2, version: 1, lease: 0 },
  });
  assert.equal(h.get('a'), {
    key: b('a'),
    value: b('2'),
    createRevision: 2,
    modRevision: 3,
    version: 2,
    lease: 0,
  });
  assert.equal(h.put('b', 'x', { prevKv: true }), { revision: 4 }, 'no prevKv for a create');
  assert.is(h.sm.revision(), 4);
  assert.is(h.sm.range({ key: b('a') }).revision, 4, 'header revision is the store revision');
});

test('delete leaves nothing, a no-op delete costs no revision, re-create starts over', () => {
  const h = new Harness();
  h.put('a', '1');
  h.put('a', '2');
  const d = h.del('a', undefined, true);
  assert.is(d.revision, 4);
  assert.is(d.deleted, 1);
  assert.equal(pairs(d.prevKvs), [['a', '2']]);
  assert.is(h.get('a'), undefined);
  assert.equal(h.del('a'), { revision: 4, deleted: 0, prevKvs: [] });
  assert.equal(h.del('zzz', ZERO), { revision: 4, deleted: 0, prevKvs: [] });
  assert.is(h.sm.revision(), 4);
  h.put('a', '3');
  assert.equal(h.get('a'), {
    key: b('a'),
    value: b('3'),
    createRevision: 5,
    modRevision: 5,
    version: 1,
    lease: 0,
  });
});

test('delete ranges: [key, end) and from key', () => {
  const h = new Harness();
  for (const k of ['a', 'b', 'c', 'd', 'e']) h.put(k, k);
  const d = h.del('b', b('d'));
  assert.is(d.deleted, 2);
  assert.equal(d.prevKvs, [], 'prevKvs only when asked');
  assert.equal(keys(h.sm.range({ key: ZERO, rangeEnd: ZERO }).kvs), ['a', 'd', 'e']);
  assert.is(h.sm.revision(), 7, 'one revision for the whole range');
  assert.is(h.del('d', ZERO).deleted, 2);
  assert.equal(keys(h.sm.range({ key: ZERO, rangeEnd: ZERO }).kvs), ['a']);
});

test('binary keys order like bytes.Compare', () => {
  const h = new Harness();
  const ks = [[0x01], [0x01, 0x00], [0x00, 0xff], [0xff], [0x7f, 0xff], [0x80]].map((k) => new Uint8Array(k));
  for (const k of ks) h.ok({ type: 'put', request: { key: k, value: k } });
  const got = h.sm.range({ key: ZERO, rangeEnd: ZERO }).kvs.map((kv) => [...kv.key]);
  assert.equal(got, [[0x00, 0xff], [0x01], [0x01, 0x00], [0x7f, 0xff], [0x80], [0xff]]);
  const pointFF = h.sm.range({ key: new Uint8Array([0xff]) }).kvs;
  assert.is(pointFF.length, 1);
  assert.ok(pointFF[0]!.key instanceof Uint8Array && pointFF[0]!.key.constructor === Uint8Array);
});

function seed(h: Harness): void {
  // /p/a .. /p/e created in order, then /p/b updated twice, /q/x and /r outside the prefix.
  for (const k of ['a', 'b', 'c', 'd', 'e']) h.put(`/p/${k}`, `v-${k}`); // revisions 2..6
  h.put('/q/x', 'qx'); // 7
  h.put('/r', 'r'); // 8
  h.put('/p/b', 'v-b2'); // 9
  h.put('/p/b', 'v-b3'); // 10
}

test('range: single key, prefix, from key, empty span', () => {
  const h = new Harness();
  seed(h);
  assert.equal(pairs(h.sm.range({ key: b('/p/c') }).kvs), [['/p/c', 'v-c']]);
  assert.equal(h.sm.range({ key: b('/p/') }).kvs, [], 'a point read is not a prefix read');
  assert.equal(keys(h.sm.range({ key: b('/p/'), rangeEnd: b('/p0') }).kvs), [
    '/p/a',
    '/p/b',
    '/p/c',
    '/p/d',
    '/p/e',
  ]);
  assert.equal(keys(h.sm.range({ key: b('/q'), rangeEnd: ZERO }).kvs), ['/q/x', '/r']);
  assert.equal(h.sm.range({ key: b('/r'), rangeEnd: b('/p') }).kvs, [], 'end before start');
  throwsCode(
    () => h.sm.range({ key: new Uint8Array(0) }),
    'MK_INVALID_ARGUMENT',
    'etcdserver: key is not provided',
  );
});

test('range: limit, more and count (count is before the limit)', () => {
  const h = new Harness();
  seed(h);
  const prefix = { key: b('/p/'), rangeEnd: b('/p0') };
  const r = h.sm.range({ ...prefix, limit: 2 });
  assert.equal(keys(r.kvs), ['/p/a', '/p/b']);
  assert.is(r.more, true);
  assert.is(r.count, 5);
  assert.is(r.revision, 10);
  const exact = h.sm.range({ ...prefix, limit: 5 });
  assert.is(exact.more, false);
  assert.is(exact.count, 5);
  const big = h.sm.range({ ...prefix, limit: 50 });
  assert.is(big.kvs.length, 5);
  assert.is(big.more, false);
  // Pagination the way kube-apiserver does it: continue from the last key + \0 at the first page's revision.
  const page2 = h.sm.range({ key: b('/p/b\0'), rangeEnd: b('/p0'), limit: 2, revision: r.revision });
  assert.equal(keys(page2.kvs), ['/p/c', '/p/d']);
  assert.is(page2.count, 3);
  assert.is(page2.more, true);
});

test('range: countOnly and keysOnly', () => {
  const h = new Harness();
  seed(h);
  const prefix = { key: b('/p/'), rangeEnd: b('/p0') };
  assert.equal(h.sm.range({ ...prefix, countOnly: true }), { kvs: [], more: false, count: 5, revision: 10 });
  assert.equal(h.sm.range({ ...prefix, countOnly: true, limit: 1 }), {
    kvs: [],
    more: false,
    count: 5,
    revision: 10,
  });
  const ko = h.sm.range({ ...prefix, keysOnly: true, limit: 2 });
  assert.equal(
    ko.kvs.map((kv) => [str(kv.key), kv.value.byteLength, kv.version]),
    [
      ['/p/a', 0, 1],
      ['/p/b', 0, 3],
    ],
  );
  const koSorted = h.sm.range({ ...prefix, keysOnly: true, sortTarget: 'value', sortOrder: 'descend' });
  assert.equal(keys(koSorted.kvs), ['/p/e', '/p/d', '/p/c', '/p/b', '/p/a']);
  assert.ok(koSorted.kvs.every((kv) => kv.value.byteLength === 0));
});

test('range: sort orders and targets', () => {
  const h = new Harness();
  seed(h);
  const prefix = { key: b('/p/'), rangeEnd: b('/p0') };
  assert.equal(keys(h.sm.range({ ...prefix, sortOrder: 'descend' }).kvs), [
    '/p/e',
    '/p/d',
    '/p/c',
    '/p/b',
    '/p/a',
  ]);
  assert.equal(keys(h.sm.range({ ...prefix, sortOrder: 'ascend' }).kvs), [
    '/p/a',
    '/p/b',
    '/p/c',
    '/p/d',
    '/p/e',
  ]);
  const byDescKeyLimited = h.sm.range({ ...prefix, sortOrder: 'descend', limit: 2 });
  assert.equal(keys(byDescKeyLimited.kvs), ['/p/e', '/p/d']);
  assert.is(byDescKeyLimited.more, true);
  assert.is(byDescKeyLimited.count, 5);
  // A target without an order sorts ascending (etcd); ties keep key order.
  assert.equal(keys(h.sm.range({ ...prefix, sortTarget: 'mod' }).kvs), [
    '/p/a',
    '/p/c',
    '/p/d',
    '/p/e',
    '/p/b',
  ]);
  assert.equal(keys(h.sm.range({ ...prefix, sortTarget: 'mod', sortOrder: 'descend' }).kvs), [
    '/p/b',
    '/p/e',
    '/p/d',
    '/p/c',
    '/p/a',
  ]);
  assert.equal(keys(h.sm.range({ ...prefix, sortTarget: 'version', sortOrder: 'descend' }).kvs), [
    '/p/b',
    '/p/a',
    '/p/c',
    '/p/d',
    '/p/e',
  ]);
  assert.equal(keys(h.sm.range({ ...prefix, sortTarget: 'create', sortOrder: 'descend', limit: 2 }).kvs), [
    '/p/e',
    '/p/d',
  ]);
  assert.equal(keys(h.sm.range({ ...prefix, sortTarget: 'value', sortOrder: 'descend' }).kvs), [
    '/p/e',
    '/p/d',
    '/p/c',
    '/p/b',
    '/p/a',
  ]);
});

test('range: min/max revision filters apply after the count, before the limit', () => {
  const h = new Harness();
  seed(h);
  const prefix = { key: b('/p/'), rangeEnd: b('/p0') };
  const r = h.sm.range({ ...prefix, minModRevision: 4 });
  assert.equal(keys(r.kvs), ['/p/b', '/p/c', '/p/d', '/p/e']);
  assert.is(r.count, 5, 'count is before the filters (etcd)');
  assert.equal(keys(h.sm.range({ ...prefix, maxModRevision: 4 }).kvs), ['/p/a', '/p/c']);
  assert.equal(keys(h.sm.range({ ...prefix, minCreateRevision: 3, maxCreateRevision: 4 }).kvs), [
    '/p/b',
    '/p/c',
  ]);
  const limited = h.sm.range({ ...prefix, minModRevision: 4, limit: 2 });
  assert.equal(keys(limited.kvs), ['/p/b', '/p/c']);
  assert.is(limited.more, true);
  assert.is(limited.count, 5);
  const notMore = h.sm.range({ ...prefix, minModRevision: 6, limit: 2 });
  assert.equal(keys(notMore.kvs), ['/p/b', '/p/e']);
  assert.is(notMore.more, false, 'more counts the filtered keys only');
});

test('range: historical reads see each revision exactly (MVCC)', () => {
  const h = new Harness();
  h.put('a', '1'); // 2
  h.put('b', '1'); // 3
  h.put('a', '2'); // 4
  h.del('b'); // 5
  h.put('b', '2'); // 6
  h.put('c', '1'); // 7
  const at = (rev: number) => pairs(h.sm.range({ key: ZERO, rangeEnd: ZERO, revision: rev }).kvs);
  assert.equal(at(1), []);
  assert.equal(at(2), [['a', '1']]);
  assert.equal(at(3), [
    ['a', '1'],
    ['b', '1'],
  ]);
  assert.equal(at(4), [
    ['a', '2'],
    ['b', '1'],
  ]);
  assert.equal(at(5), [['a', '2']]);
  assert.equal(at(6), [
    ['a', '2'],
    ['b', '2'],
  ]);
  assert.equal(at(7), [
    ['a', '2'],
    ['b', '2'],
    ['c', '1'],
  ]);
  assert.equal(h.get('b', 3), {
    key: b('b'),
    value: b('1'),
    createRevision: 3,
    modRevision: 3,
    version: 1,
    lease: 0,
  });
  assert.equal(h.get('b', 6), {
    key: b('b'),
    value: b('2'),
    createRevision: 6,
    modRevision: 6,
    version: 1,
    lease: 0,
  });
  assert.is(h.get('b', 5), undefined);
  const old = h.sm.range({ key: ZERO, rangeEnd: ZERO, revision: 4, limit: 1 });
  assert.equal(pairs(old.kvs), [['a', '2']]);
  assert.is(old.more, true);
  assert.is(old.count, 2);
  assert.is(old.revision, 7, 'header revision is the current one, not the requested one');
  assert.equal(h.sm.range({ key: ZERO, rangeEnd: ZERO, revision: 5, countOnly: true }).count, 1);
  assert.equal(keys(h.sm.range({ key: ZERO, rangeEnd: ZERO, revision: 6, sortOrder: 'descend' }).kvs), [
    'b',
    'a',
  ]);
  const ko = h.sm.range({ key: b('a'), revision: 2, keysOnly: true }).kvs[0]!;
  assert.is(ko.value.byteLength, 0);
  assert.is(ko.modRevision, 2);
});

test('range: future and compacted revisions with etcd messages', () => {
  const h = new Harness();
  for (let i = 0; i < 5; i++) h.put('k', String(i)); // revisions 2..6
  throwsCode(() => h.sm.range({ key: b('k'), revision: 7 }), 'MK_FUTURE_REVISION', FUTURE);
  h.ok({ type: 'compact', revision: 4 });
  throwsCode(() => h.sm.range({ key: b('k'), revision: 3 }), 'MK_COMPACTED', COMPACTED);
  assert.is(str(h.get('k', 4)!.value), '2', 'the compact revision itself is readable');
  assert.is(str(h.get('k', 5)!.value), '3');
  assert.is(
    h.sm.range({ key: b('k'), revision: -1 }).kvs.length,
    1,
    'a negative revision is the current one',
  );
});

test('query plans are index-driven', () => {
  const db = new Database(':memory:');
  createSchema(db);
  const sql = new Statements(db);
  const plan = (stmt: Database.Statement) =>
    (
      db.prepare(`EXPLAIN QUERY PLAN ${stmt.source}`).all(...new Array(countParams(stmt.source)).fill(1)) as {
        detail: string;
      }[]
    )
      .map((r) => r.detail)
      .join(' | ');
  const countParams = (s: string) => s.split('?').length - 1;
  const checks: [string, Database.Statement, RegExp][] = [
    [
      'point get',
      sql.getLiveWithValue,
      /SEARCH c USING PRIMARY KEY \(key=\?\).*SEARCH l USING INTEGER PRIMARY KEY/,
    ],
    [
      'prefix range with limit',
      sql.liveRows('range', false, true),
      /SEARCH c USING PRIMARY KEY \(key>\? AND key<\?\)/,
    ],
    [
      'prefix range descending',
      sql.liveRows('range', true, false),
      /SEARCH live USING PRIMARY KEY \(key>\? AND key<\?\)/,
    ],
    [
      'prefix count',
      sql.liveCount('range'),
      /SEARCH live USING (COVERING INDEX|PRIMARY KEY).*\(key>\? AND key<\?\)/,
    ],
    [
      'historical range',
      sql.historicalRows('range', false, true),
      /SEARCH log USING COVERING INDEX log_key_rev \(key>\? AND key<\?\)/,
    ],
    [
      'historical range descending',
      sql.historicalRows('range', true, false),
      /SEARCH log USING COVERING INDEX log_key_rev \(key>\? AND key<\?\)/,
    ],
    [
      'historical point',
      sql.historicalRows('point', false, true),
      /SEARCH log USING COVERING INDEX log_key_rev \(key=\? AND rev<\?\)/,
    ],
    ['historical count', sql.historicalCount('range'), /SEARCH log USING COVERING INDEX log_key_rev/],
    ['history replay', sql.events('range'), /SEARCH l USING INTEGER PRIMARY KEY \(rowid>\?\)/],
    ['lease keys', sql.leaseRows, /SEARCH live USING (COVERING )?INDEX live_lease \(lease=\?\)/],
    ['compaction', sql.compactSuperseded, /SEARCH log USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/],
  ];
  for (const [name, stmt, expected] of checks) {
    const detail = plan(stmt);
    assert.match(detail, expected, `${name}: ${detail}`);
    assert.not.match(detail, /SCAN (log|live|c|l)\b/, `${name} scans a table: ${detail}`);
    assert.not.match(detail, /TEMP B-TREE/, `${name} sorts: ${detail}`);
  }
  db.close();
});

test.run();
