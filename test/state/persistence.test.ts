import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeCommand } from '../../src/datastore/state/codec.js';
import { KvStateMachine } from '../../src/datastore/state/kv-store.js';
import type { Command } from '../../src/datastore/state/types.js';
import { b, Harness, keys, quietLogger, str, tempDir, throwsCode, ZERO } from './helpers.js';

const put = (key: string, value: string): Command => ({
  type: 'put',
  request: { key: b(key), value: b(value) },
});
const EMPTY = new Uint8Array(0);

function fingerprint(sm: KvStateMachine) {
  return {
    hash: sm.hash(),
    applied: sm.appliedIndex(),
    revision: sm.revision(),
    compact: sm.compactRevision(),
    leases: sm.leases(),
    history: sm.history(sm.compactRevision() + 1, ZERO, ZERO, 1_000_000),
  };
}

function populate(h: Harness): void {
  h.ok({ type: 'leaseGrant', id: 9, ttl: 30 });
  for (let i = 0; i < 50; i++) h.put(`/k/${i % 17}`, `value-${i}`, i % 5 === 0 ? { lease: 9 } : {});
  h.del('/k/3');
  h.ok({ type: 'compact', revision: 20 });
  h.put('/k/3', 'back');
}

test('entries at or below the applied index are skipped; empty entries only advance it', () => {
  const sm = KvStateMachine.open(':memory:', { logger: quietLogger });
  const results = sm.applyEntries([
    { index: 1, data: encodeCommand(put('a', '1')) },
    { index: 2, data: EMPTY },
    { index: 3, data: encodeCommand(put('b', '1')) },
  ]);
  assert.equal(
    results.map((r) => r?.ok),
    [true, undefined, true],
  );
  assert.is(sm.appliedIndex(), 3);
  assert.is(sm.revision(), 3);
  // A replay overlapping what was applied: the old entries are skipped, the new one applies.
  const replay = sm.applyEntries([
    { index: 2, data: encodeCommand(put('a', 'dup')) },
    { index: 3, data: encodeCommand(put('b', 'dup')) },
    { index: 4, data: encodeCommand(put('c', '1')) },
  ]);
  assert.equal(
    replay.map((r) => r?.ok),
    [undefined, undefined, true],
  );
  assert.equal(keys(sm.range({ key: ZERO, rangeEnd: ZERO }).kvs), ['a', 'b', 'c']);
  assert.is(str(sm.range({ key: b('a') }).kvs[0]!.value), '1');
  assert.equal(sm.applyEntries([{ index: 4, data: encodeCommand(put('c', 'x')) }]), [undefined]);
  assert.is(sm.revision(), 4);
  sm.close();
});

test('a malformed entry in a batch is a result; the rest of the batch applies', () => {
  const sm = KvStateMachine.open(':memory:', { logger: quietLogger });
  const results = sm.applyEntries([
    { index: 1, data: encodeCommand(put('a', '1')) },
    { index: 2, data: new Uint8Array([1, 1, 0xff]) },
    { index: 3, data: new Uint8Array([9, 9, 9]) },
    { index: 4, data: encodeCommand(put('b', '1')) },
  ]);
  assert.equal(
    results.map((r) => r?.ok),
    [true, false, false, true],
  );
  assert.is((results[1] as { error: { code: string } }).error.code, 'MK_INVALID_ARGUMENT');
  assert.is(sm.appliedIndex(), 4);
  assert.is(sm.revision(), 3);
  sm.close();
});

test('a batch that throws midway leaves no trace and can be retried', () => {
  const sm = KvStateMachine.open(':memory:', { logger: quietLogger });
  sm.applyEntries([{ index: 1, data: encodeCommand(put('a', '1')) }]);
  const before = fingerprint(sm);
  const seen: number[] = [];
  sm.subscribe((r) => seen.push(r.revision));
  // A gap in the indexes is a caller bug: the assertion fires after two entries were applied.
  assert.throws(
    () =>
      sm.applyEntries([
        { index: 2, data: encodeCommand(put('b', '1')) },
        { index: 3, data: encodeCommand(put('c', '1')) },
        { index: 5, data: encodeCommand(put('d', '1')) },
      ]),
    /contiguous/,
  );
  assert.equal(fingerprint(sm), before);
  assert.equal(seen, [], 'nothing was delivered for the rolled-back batch');
  const results = sm.applyEntries([
    { index: 2, data: encodeCommand(put('b', '1')) },
    { index: 3, data: encodeCommand(put('c', '1')) },
  ]);
  assert.equal(
    results.map((r) => r?.ok),
    [true, true],
  );
  assert.equal(seen, [3, 4]);
  assert.is(sm.revision(), 4);
  sm.close();
});

test('a file database keeps the applied index, the revision and the data across reopen', () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = join(dir, 'state.db');
    const h = new Harness(KvStateMachine.open(path, { logger: quietLogger }));
    populate(h);
    h.sm.applyEntries([{ index: ++h.index, data: EMPTY }]);
    h.sm.checkpoint();
    const before = fingerprint(h.sm);
    h.sm.close();
    throwsCode(() => h.sm.revision(), 'MK_STOPPED');
    const reopened = KvStateMachine.open(path, { logger: quietLogger });
    assert.equal(fingerprint(reopened), before);
    assert.is(reopened.appliedIndex(), h.index);
    // Restart replays the tail of the log: already applied entries are skipped.
    assert.equal(reopened.applyEntries([{ index: h.index, data: encodeCommand(put('x', 'y')) }]), [
      undefined,
    ]);
    reopened.close();
  } finally {
    cleanup();
  }
});

test('a second open of a live file database is refused', () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = join(dir, 'state.db');
    const first = KvStateMachine.open(path, { logger: quietLogger });
    throwsCode(() => KvStateMachine.open(path, { logger: quietLogger }), 'MK_INVALID_CONFIG');
    first.close();
    KvStateMachine.open(path, { logger: quietLogger }).close();
  } finally {
    cleanup();
  }
});

test('open refuses a file that is not a state database', () => {
  const { dir, cleanup } = tempDir();
  try {
    const garbage = join(dir, 'garbage.db');
    writeFileSync(garbage, Buffer.alloc(8192, 0x5a));
    throwsCode(() => KvStateMachine.open(garbage, { logger: quietLogger }), 'MK_DATA_CORRUPTION');
    const foreign = join(dir, 'foreign.db');
    const db = new Database(foreign);
    db.exec('CREATE TABLE t (x)');
    db.close();
    throwsCode(() => KvStateMachine.open(foreign, { logger: quietLogger }), 'MK_DATA_CORRUPTION');
  } finally {
    cleanup();
  }
});

test('snapshot and restore: identical hash, applied index, revision, leases and history', () => {
  const { dir, cleanup } = tempDir();
  try {
    const source = new Harness();
    populate(source);
    const snap = source.sm.snapshot();
    assert.ok(snap instanceof Uint8Array && snap.byteLength > 0);
    const expected = fingerprint(source.sm);

    const memory = KvStateMachine.open(':memory:', { logger: quietLogger });
    memory.applyEntries([{ index: 1, data: encodeCommand(put('stale', 'x')) }]);
    memory.restore(snap);
    assert.equal(fingerprint(memory), expected);
    assert.is(memory.range({ key: b('stale') }).kvs.length, 0);

    const path = join(dir, 'state.db');
    const file = KvStateMachine.open(path, { logger: quietLogger });
    file.applyEntries([{ index: 1, data: encodeCommand(put('stale', 'x')) }]);
    file.restore(snap);
    assert.equal(fingerprint(file), expected);
    assert.not.ok(existsSync(`${path}.restore`));
    // Both keep applying where the snapshot left off, identically to the source.
    const next = [put('/k/1', 'after'), { type: 'leaseRevoke', id: 9 } as Command];
    for (const target of [source, new Harness(memory), new Harness(file)]) target.applyBatch(next);
    assert.is(memory.hash(), source.sm.hash());
    assert.is(file.hash(), source.sm.hash());
    file.close();
    const reopened = KvStateMachine.open(path, { logger: quietLogger });
    assert.equal(fingerprint(reopened), fingerprint(source.sm));
    reopened.close();
  } finally {
    cleanup();
  }
});

test('restoring garbage is MK_DATA_CORRUPTION and leaves the db untouched', () => {
  const { dir, cleanup } = tempDir();
  try {
    const source = new Harness();
    populate(source);
    const good = source.sm.snapshot();
    const foreignDb = new Database(':memory:');
    foreignDb.exec('CREATE TABLE t (x)');
    const foreign = foreignDb.serialize();
    foreignDb.close();
    const damaged = good.slice();
    for (let i = 4096; i < damaged.byteLength; i += 97) damaged[i] = (damaged[i]! + 1) & 0xff;
    const bad = [
      new Uint8Array(0),
      b(
        'definitely not a database, but long enough to pass the length check........................................',
      ),
      good.subarray(0, 1000),
      good.subarray(0, good.byteLength / 2),
      damaged,
      foreign,
    ];
    for (const sm of [
      KvStateMachine.open(':memory:', { logger: quietLogger }),
      KvStateMachine.open(join(dir, 'state.db'), { logger: quietLogger }),
    ]) {
      const h = new Harness(sm);
      h.put('mine', '1');
      const before = fingerprint(sm);
      for (const data of bad) {
        throwsCode(() => sm.restore(data), 'MK_DATA_CORRUPTION');
        assert.equal(fingerprint(sm), before);
      }
      h.put('mine', '2');
      assert.is(str(h.get('mine')!.value), '2', 'still usable');
      sm.close();
    }
  } finally {
    cleanup();
  }
});

test('dbSize reports the database size', () => {
  const h = new Harness();
  const empty = h.sm.dbSize();
  assert.ok(empty > 0);
  for (let i = 0; i < 200; i++) h.put(`k${i}`, 'x'.repeat(1000));
  assert.ok(h.sm.dbSize() > empty + 200_000);
});

test.run();
