// DurableLog: round trips through close and reopen, conflicting suffixes, group commit, limits.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Entry } from '../../src/datastore/raft/types.js';
import { DurableLog } from '../../src/datastore/storage/durable-log.js';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { entries, entry, quietLogger, removeDir, segmentFiles, tempDir } from './helpers.js';

const logger = quietLogger();

function allEntries(log: DurableLog): Entry[] {
  if (log.lastIndex() < log.firstIndex()) return [];
  return log.entries(log.firstIndex(), log.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
}

test('a brand-new directory starts at the bootstrap snapshot', async () => {
  const dir = await tempDir();
  try {
    const bootstrap = { members: [{ id: 1, role: 'voter' as const }] };
    const log = await DurableLog.open(`${dir}/raft`, { logger, bootstrap });
    assert.equal(log.initialState(), { hardState: { term: 0, vote: 0, commit: 0 }, snapshotConf: bootstrap });
    assert.is(log.firstIndex(), 1);
    assert.is(log.lastIndex(), 0);
    assert.is(log.term(0), 0);
    assert.is(log.term(1), undefined);
    assert.equal(log.snapshot().meta, { index: 0, term: 0, conf: bootstrap });
    assert.is(log.snapshot().data.byteLength, 0);
    await log.close();
    // The bootstrap membership is only for a brand-new log.
    const again = await DurableLog.open(`${dir}/raft`, { logger, bootstrap: { members: [] } });
    assert.equal(again.initialState().snapshotConf, bootstrap);
    await again.close();
  } finally {
    await removeDir(dir);
  }
});

test('round trip: entries, terms and hard state survive close and reopen', async () => {
  const dir = await tempDir();
  try {
    const log = await DurableLog.open(dir, { logger });
    const written = [
      ...entries(1, 5, 1),
      ...entries(6, 9, 2, 300),
      { index: 10, term: 2, type: 1 as const, data: new Uint8Array(0) },
    ];
    await log.save({ entries: written.slice(0, 5), hardState: { term: 1, vote: 1, commit: 0 } });
    await log.save({ entries: written.slice(5), hardState: { term: 2, vote: 3, commit: 7 } });
    await log.save({ entries: [] }); // a no-op save resolves too
    await log.close();

    const reopened = await DurableLog.open(dir, { logger });
    assert.equal(reopened.initialState().hardState, { term: 2, vote: 3, commit: 7 });
    assert.is(reopened.firstIndex(), 1);
    assert.is(reopened.lastIndex(), 10);
    assert.equal(allEntries(reopened), written);
    for (const e of written) assert.is(reopened.term(e.index), e.term);
    assert.is(reopened.term(11), undefined);
    await reopened.close();
  } finally {
    await removeDir(dir);
  }
});

test('a conflicting suffix is replaced, in memory and after reopen', async () => {
  const dir = await tempDir();
  try {
    const log = await DurableLog.open(dir, { logger });
    await log.save({ entries: entries(1, 10, 1), hardState: { term: 1, vote: 1, commit: 4 } });
    // A new leader overwrites 6.. with a shorter suffix of term 2, then the log grows again.
    await log.save({ entries: entries(6, 7, 2), hardState: { term: 2, vote: 2, commit: 4 } });
    assert.is(log.lastIndex(), 7);
    await log.save({ entries: entries(8, 8, 2) });
    await log.save({ entries: entries(5, 6, 3) }); // and once more, shorter still
    const expected = [...entries(1, 4, 1), ...entries(5, 6, 3)];
    assert.equal(allEntries(log), expected);
    await log.close();

    const reopened = await DurableLog.open(dir, { logger });
    assert.equal(allEntries(reopened), expected);
    assert.is(reopened.lastIndex(), 6);
    assert.equal(reopened.initialState().hardState, { term: 2, vote: 2, commit: 4 });
    await reopened.close();
  } finally {
    await removeDir(dir);
  }
});

test('group commit: 100 concurrent saves share far fewer fsyncs, all intact after reopen', async () => {
  const dir = await tempDir();
  try {
    const log = await DurableLog.open(dir, { logger });
    const before = log.stats();
    // Each save is issued without waiting for the previous one, as concurrent Ready loops would;
    // a few arrive later, while the first fdatasync is already running.
    const saves: Promise<void>[] = [];
    for (let i = 1; i <= 100; i++) {
      saves.push(log.save({ entries: [entry(i, 1, 128)], hardState: { term: 1, vote: 1, commit: i - 1 } }));
      if (i % 25 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(saves);
    const after = log.stats();
    const fsyncs = after.fsyncs - before.fsyncs;
    assert.is(after.saves - before.saves, 100);
    assert.ok(fsyncs >= 1 && fsyncs <= 10, `100 saves took ${fsyncs} fsyncs`);
    assert.ok(after.flushes - before.flushes <= 10, `${after.flushes - before.flushes} flushes`);
    console.log(`  group commit: 100 saves, ${after.flushes - before.flushes} flushes, ${fsyncs} fsyncs`);
    await log.close();

    const reopened = await DurableLog.open(dir, { logger });
    assert.is(reopened.lastIndex(), 100);
    assert.equal(
      allEntries(reopened),
      Array.from({ length: 100 }, (_, i) => entry(i + 1, 1, 128)),
    );
    assert.equal(reopened.initialState().hardState, { term: 1, vote: 1, commit: 99 });
    await reopened.close();
  } finally {
    await removeDir(dir);
  }
});

test('segments roll over at segmentBytes and the log reads back across them', async () => {
  const dir = await tempDir();
  try {
    const log = await DurableLog.open(dir, { logger, segmentBytes: 4096 });
    for (let i = 1; i <= 60; i += 3) {
      await log.save({ entries: entries(i, i + 2, 1, 500), hardState: { term: 1, vote: 0, commit: i - 1 } });
    }
    const stats = log.stats();
    assert.ok(stats.segments > 5, `${stats.segments} segments`);
    assert.is((await segmentFiles(dir)).length, stats.segments);
    await log.close();

    const reopened = await DurableLog.open(dir, { logger, segmentBytes: 4096 });
    assert.equal(allEntries(reopened), entries(1, 60, 1, 500));
    assert.equal(reopened.initialState().hardState, { term: 1, vote: 0, commit: 57 });
    await reopened.close();
  } finally {
    await removeDir(dir);
  }
});

test('a record larger than maxRecordBytes is refused with MK_LIMIT_EXCEEDED and nothing changes', async () => {
  const dir = await tempDir();
  try {
    const log = await DurableLog.open(dir, { logger, limits: { maxRecordBytes: 4096 } });
    await log.save({ entries: entries(1, 2, 1) });
    try {
      await log.save({ entries: [entry(3, 1, 100), entry(4, 1, 5000)] });
      assert.unreachable('the oversized save must fail');
    } catch (error) {
      assert.ok(isMicroK8sError(error, 'MK_LIMIT_EXCEEDED'), String(error));
    }
    assert.is(log.lastIndex(), 2);
    await log.save({ entries: [entry(3, 1, 4000)] }); // just under the limit is fine
    await log.close();
    const reopened = await DurableLog.open(dir, { logger, limits: { maxRecordBytes: 4096 } });
    assert.is(reopened.lastIndex(), 3);
    await reopened.close();
  } finally {
    await removeDir(dir);
  }
});

test('entries(lo, hi, maxBytes) pages by size and always returns at least one', async () => {
  const dir = await tempDir();
  try {
    const log = await DurableLog.open(dir, { logger });
    await log.save({ entries: entries(1, 10, 1, 100) });
    assert.is(log.entries(1, 11, 0).length, 1);
    assert.is(log.entries(1, 11, 3 * 124).length, 3);
    assert.is(log.entries(4, 7, 1e9).length, 3);
    await log.close();
  } finally {
    await removeDir(dir);
  }
});

test('after close every call fails with MK_STOPPED', async () => {
  const dir = await tempDir();
  try {
    const log = await DurableLog.open(dir, { logger });
    await log.close();
    try {
      await log.save({ entries: entries(1, 1, 1) });
      assert.unreachable('save after close');
    } catch (error) {
      assert.ok(isMicroK8sError(error, 'MK_STOPPED'), String(error));
    }
  } finally {
    await removeDir(dir);
  }
});

test.run();
