import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RevisionEvents } from '../../src/datastore/state/types.js';
import { b, Harness, str, ZERO } from './helpers.js';

function summary(batches: readonly RevisionEvents[]): string[] {
  return batches.map(
    (r) =>
      `${r.revision}:${r.events
        .map(
          (e) =>
            `${e.type} ${str(e.kv.key)}=${str(e.kv.value)}${e.prevKv ? ` (was ${str(e.prevKv.value)}@${e.prevKv.modRevision})` : ''}`,
        )
        .join(',')}`,
  );
}

test('subscribe: one callback per revision, in order, with prevKv, nothing for no-ops', () => {
  const h = new Harness();
  const seen = h.record();
  h.put('a', '1'); // 2
  h.put('a', '2'); // 3
  h.del('nothing'); // no-op
  h.txn({ compare: [], success: [{ range: { key: b('a') } }], failure: [] }); // read-only
  h.ok({ type: 'leaseGrant', id: 1, ttl: 1 }); // no revision
  h.fail({ type: 'put', request: { key: b('x'), value: b(''), lease: 99 } }); // rejected
  h.txn({
    compare: [],
    success: [{ put: { key: b('b'), value: b('1') } }, { deleteRange: { key: b('a') } }],
    failure: [],
  }); // 4
  h.ok({ type: 'compact', revision: 3 }); // no revision
  assert.equal(summary(seen), ['2:put a=1', '3:put a=2 (was 1@2)', '4:put b=1,delete a= (was 2@3)']);
  const del = seen[2]!.events[1]!;
  assert.equal(del.kv, {
    key: b('a'),
    value: new Uint8Array(0),
    createRevision: 0,
    modRevision: 4,
    version: 0,
    lease: 0,
  });
  assert.equal(del.prevKv, {
    key: b('a'),
    value: b('2'),
    createRevision: 2,
    modRevision: 3,
    version: 2,
    lease: 0,
  });
});

test('a batch of entries is delivered after its commit, one callback per revision', () => {
  const h = new Harness();
  const seen: number[] = [];
  h.sm.subscribe((batch) => {
    // Called after the commit: the store already reports the batch's last revision.
    seen.push(batch.revision * 100 + h.sm.revision());
  });
  h.applyBatch([
    { type: 'put', request: { key: b('a'), value: b('1') } },
    { type: 'deleteRange', request: { key: b('zzz') } },
    { type: 'put', request: { key: b('b'), value: b('1') } },
    { type: 'put', request: { key: b('c'), value: b('1') } },
  ]);
  assert.equal(seen, [204, 304, 404]);
});

test('unsubscribe stops delivery; a throwing listener does not stop the others', () => {
  const h = new Harness();
  const got: number[] = [];
  const stop = h.sm.subscribe((r) => got.push(r.revision));
  h.sm.subscribe(() => {
    throw new Error('listener bug');
  });
  const second: number[] = [];
  h.sm.subscribe((r) => second.push(r.revision));
  h.put('a', '1');
  stop();
  h.put('a', '2');
  assert.equal(got, [2]);
  assert.equal(second, [2, 3]);
});

test('history replays exactly what subscribe delivered', () => {
  const h = new Harness();
  const seen = h.record();
  h.ok({ type: 'leaseGrant', id: 5, ttl: 10 });
  h.put('/a/1', 'x'); // 2
  h.put('/a/2', 'y', { lease: 5 }); // 3
  h.put('/a/1', 'x2'); // 4
  h.put('/b', 'outside'); // 5
  h.txn({
    compare: [],
    success: [
      { put: { key: b('/a/3'), value: b('z') } },
      { deleteRange: { key: b('/a/1') } },
      { put: { key: b('/b'), value: b('o2') } },
    ],
    failure: [],
  }); // 6
  h.ok({ type: 'leaseRevoke', id: 5 }); // 7
  h.put('/a/1', 'again'); // 8
  h.del('/a/', b('/a0')); // 9
  const all = h.sm.history(1, ZERO, ZERO, 1000);
  assert.is(all.more, false);
  assert.equal(all.events, seen);

  // A prefix replay is the same revisions filtered to the prefix's events.
  const prefix = h.sm.history(3, b('/a/'), b('/a0'), 1000).events;
  const expected = seen
    .filter((r) => r.revision >= 3)
    .map((r) => ({ revision: r.revision, events: r.events.filter((e) => str(e.kv.key).startsWith('/a/')) }))
    .filter((r) => r.events.length > 0);
  assert.equal(prefix, expected);
  // A single key.
  assert.equal(
    h.sm.history(1, b('/b'), undefined, 1000).events.map((r) => r.revision),
    [5, 6],
  );
});

test('history limit: whole revisions, more when cut', () => {
  const h = new Harness();
  h.put('a', '1'); // 2
  h.txn({
    compare: [],
    success: [
      { put: { key: b('b'), value: b('1') } },
      { put: { key: b('c'), value: b('1') } },
      { put: { key: b('d'), value: b('1') } },
    ],
    failure: [],
  }); // 3
  h.put('e', '1'); // 4
  const one = h.sm.history(2, ZERO, ZERO, 1);
  assert.equal(
    one.events.map((r) => r.revision),
    [2],
  );
  assert.is(one.more, true);
  const two = h.sm.history(2, ZERO, ZERO, 2);
  assert.equal(
    two.events.map((r) => [r.revision, r.events.length]),
    [
      [2, 1],
      [3, 3],
    ],
    'a revision is never split',
  );
  assert.is(two.more, true);
  const rest = h.sm.history(4, ZERO, ZERO, 2);
  assert.equal(
    rest.events.map((r) => r.revision),
    [4],
  );
  assert.is(rest.more, false);
  assert.equal(h.sm.history(5, ZERO, ZERO, 2), { events: [], more: false }, 'from the future: nothing yet');
});

test.run();
