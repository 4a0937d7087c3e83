import { join } from 'node:path';
import Database from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KvStateMachine } from '../../src/datastore/state/kv-store.js';
import { b, Harness, keys, pairs, quietLogger, str, tempDir, throwsCode, ZERO } from './helpers.js';

const COMPACTED = 'etcdserver: mvcc: required revision has been compacted';
const FUTURE = 'etcdserver: mvcc: required revision is a future revision';

test('compact errors: at or below the compact revision, beyond the current one', () => {
  const h = new Harness();
  h.put('a', '1'); // 2
  h.put('a', '2'); // 3
  assert.equal(h.fail({ type: 'compact', revision: 4 }), { code: 'MK_FUTURE_REVISION', message: FUTURE });
  assert.equal(h.fail({ type: 'compact', revision: 0 }), { code: 'MK_COMPACTED', message: COMPACTED });
  h.ok({ type: 'compact', revision: 3 });
  assert.equal(h.fail({ type: 'compact', revision: 3 }), { code: 'MK_COMPACTED', message: COMPACTED });
  assert.equal(h.fail({ type: 'compact', revision: 2 }), { code: 'MK_COMPACTED', message: COMPACTED });
  assert.is(h.sm.compactRevision(), 3);
  assert.is(h.sm.revision(), 3, 'compaction is no revision');
});

test('reads and history below the compact revision error; the compact revision itself replays (as etcd)', () => {
  const h = new Harness();
  for (let i = 0; i < 6; i++) h.put('k', String(i)); // 2..7
  h.ok({ type: 'compact', revision: 5 });
  throwsCode(() => h.get('k', 4), 'MK_COMPACTED', COMPACTED);
  throwsCode(() => h.sm.range({ key: ZERO, rangeEnd: ZERO, revision: 2 }), 'MK_COMPACTED', COMPACTED);
  throwsCode(() => h.sm.history(4, b('k'), undefined, 10), 'MK_COMPACTED', COMPACTED);
  throwsCode(() => h.sm.history(1, b('k'), undefined, 10), 'MK_COMPACTED', COMPACTED);
  assert.equal(
    h.sm.history(5, b('k'), undefined, 10).events.map((r) => r.revision),
    [5, 6, 7],
  );
  assert.equal(
    h.sm.history(6, b('k'), undefined, 10).events.map((r) => r.revision),
    [6, 7],
  );
  assert.is(str(h.get('k', 5)!.value), '3');
  assert.is(str(h.get('k', 6)!.value), '4');
});

test('a key deleted before the compaction never comes back', () => {
  const h = new Harness();
  h.put('gone', 'v1'); // 2
  h.put('gone', 'v2'); // 3
  h.put('live', 'l1'); // 4
  h.del('gone'); // 5
  h.put('live', 'l2'); // 6
  h.put('other', 'o'); // 7
  h.del('other'); // 8: a tombstone exactly at the compact revision
  h.ok({ type: 'compact', revision: 8 });
  h.put('x', 'after'); // 9
  for (let rev = 8; rev <= 9; rev++) {
    const all = h.sm.range({ key: ZERO, rangeEnd: ZERO, revision: rev });
    assert.equal(keys(all.kvs), rev === 8 ? ['live'] : ['live', 'x'], `revision ${rev}`);
    assert.is(h.sm.range({ key: b('gone'), revision: rev }).count, 0);
    assert.is(
      h.sm.range({ key: ZERO, rangeEnd: ZERO, revision: rev, countOnly: true }).count,
      all.kvs.length,
    );
  }
  assert.is(h.get('gone'), undefined);
  // Re-creating starts over, and the old history stays invisible.
  h.put('gone', 'new'); // 10
  assert.equal(h.get('gone'), {
    key: b('gone'),
    value: b('new'),
    createRevision: 10,
    modRevision: 10,
    version: 1,
    lease: 0,
  });
  assert.is(h.sm.range({ key: b('gone'), revision: 9 }).kvs.length, 0);
  const history = h.sm.history(9, b('gone'), undefined, 100).events;
  assert.equal(history.length, 1);
  assert.equal(history[0]!.events, [{ type: 'put', kv: h.get('gone')! }], 'no prevKv from before the delete');
});

test('live keys keep their create revision and version across compactions', () => {
  const h = new Harness();
  h.put('a', '1'); // 2
  h.put('b', '1'); // 3
  h.put('a', '2'); // 4
  h.put('a', '3'); // 5
  h.ok({ type: 'compact', revision: 4 });
  assert.equal(h.get('a'), {
    key: b('a'),
    value: b('3'),
    createRevision: 2,
    modRevision: 5,
    version: 3,
    lease: 0,
  });
  assert.equal(h.get('a', 4), {
    key: b('a'),
    value: b('2'),
    createRevision: 2,
    modRevision: 4,
    version: 2,
    lease: 0,
  });
  assert.equal(h.get('b', 4), {
    key: b('b'),
    value: b('1'),
    createRevision: 3,
    modRevision: 3,
    version: 1,
    lease: 0,
  });
  h.ok({ type: 'compact', revision: 5 });
  h.put('a', '4'); // 6
  assert.equal(h.get('a'), {
    key: b('a'),
    value: b('4'),
    createRevision: 2,
    modRevision: 6,
    version: 4,
    lease: 0,
  });
  // The update after the compaction still carries its previous version for watchers.
  const [rev6] = h.sm.history(6, b('a'), undefined, 10).events;
  assert.equal(rev6!.events[0]!.prevKv, {
    key: b('a'),
    value: b('3'),
    createRevision: 2,
    modRevision: 5,
    version: 3,
    lease: 0,
  });
});

test('compaction removes superseded rows and keeps every read at or above it identical', () => {
  const h = new Harness();
  const keyNames = ['a', 'b', 'c', 'd', 'e', 'f'];
  let step = 0;
  const snapshots = new Map<number, [string, string][]>();
  for (let round = 0; round < 40; round++) {
    const k = keyNames[(round * 7) % keyNames.length]!;
    if (round % 5 === 3) h.del(k);
    else h.put(k, `v${step++}`);
    snapshots.set(h.sm.revision(), pairs(h.sm.range({ key: ZERO, rangeEnd: ZERO }).kvs));
  }
  const sizeBefore = h.sm.dbSize();
  const current = h.sm.revision();
  for (const compactAt of [10, 11, 25, current]) {
    if (compactAt <= h.sm.compactRevision()) continue;
    h.ok({ type: 'compact', revision: compactAt });
    for (const [rev, expected] of snapshots) {
      if (rev < compactAt) continue;
      assert.equal(
        pairs(h.sm.range({ key: ZERO, rangeEnd: ZERO, revision: rev }).kvs),
        expected,
        `rev ${rev} after compact ${compactAt}`,
      );
    }
  }
  assert.ok(h.sm.dbSize() <= sizeBefore);
});

test('a full compaction leaves exactly one log row per live key', () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = join(dir, 'state.db');
    const open = () => new Harness(KvStateMachine.open(path, { logger: quietLogger }));
    // The state machine holds an exclusive lock: count the rows with it closed.
    const rows = () => {
      const db = new Database(path, { readonly: true });
      try {
        return (db.prepare('SELECT count(*) AS n FROM log').get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    let h = open();
    for (let i = 0; i < 200; i++) h.put(`k${i % 20}`, `v${i}`);
    h.del('k1', b('k2')); // deletes k1 and k10..k19
    h.put('k3', 'last');
    h.sm.close();
    assert.is(rows(), 200 + 11 + 1);
    h = open();
    h.ok({ type: 'compact', revision: h.sm.revision() });
    const live = h.sm.range({ key: ZERO, rangeEnd: ZERO, countOnly: true }).count;
    assert.is(live, 9);
    h.sm.close();
    assert.is(rows(), live);
  } finally {
    cleanup();
  }
});

test.run();
