// Snapshots and compaction: installSnapshot (received from the leader), markSnapshot (the local
// state machine), compact, and how each persists across reopen.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ConfState } from '../../src/datastore/raft/types.js';
import { DurableLog } from '../../src/datastore/storage/durable-log.js';
import { AssertionError } from '../../src/lib/assert.js';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { captureLogger, entries, quietLogger, removeDir, segmentFiles, tempDir } from './helpers.js';

const logger = quietLogger();
const conf: ConfState = { members: [{ id: 1, role: 'voter' }] };
const conf3: ConfState = {
  members: [
    { id: 1, role: 'voter' },
    { id: 2, role: 'voter' },
    { id: 3, role: 'standby' },
  ],
};

/** Entries 1..10 of term 1 and 11..20 of term 2, committed. */
async function twentyEntries(dir: string, segmentBytes?: number): Promise<DurableLog> {
  const log = await DurableLog.open(dir, {
    logger,
    bootstrap: conf,
    ...(segmentBytes ? { segmentBytes } : {}),
  });
  for (let i = 1; i <= 20; i++) {
    await log.save({
      entries: entries(i, i, i <= 10 ? 1 : 2, 200),
      hardState: { term: 2, vote: 1, commit: i },
    });
  }
  return log;
}

function assertBounds(log: DurableLog, first: number, last: number, termBefore: number): void {
  assert.is(log.firstIndex(), first, 'firstIndex');
  assert.is(log.lastIndex(), last, 'lastIndex');
  assert.is(log.term(first - 1), termBefore, 'term(firstIndex - 1)');
  assert.is(log.term(first - 2), undefined, 'term before the compaction point');
  assert.is(log.term(last + 1), undefined, 'term after the last index');
}

async function expectAssertion(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
    assert.unreachable('an assertion must fail');
  } catch (error) {
    assert.instance(error, AssertionError);
  }
}

test('markSnapshot records the snapshot without compacting; compact drops entries; both persist', async () => {
  const dir = await tempDir();
  try {
    const log = await twentyEntries(dir);
    await log.markSnapshot({ index: 15, term: 2, conf: conf3 });
    assert.equal(log.snapshot().meta, { index: 15, term: 2, conf: conf3 });
    assert.is(log.snapshot().data.byteLength, 0, 'no provider and no received data');
    assertBounds(log, 1, 20, 0);
    assert.equal(log.initialState().snapshotConf, conf3);

    await log.compact(10);
    assertBounds(log, 11, 20, 1);
    assert.equal(log.entries(11, 21, 1e9), [...entries(11, 20, 2, 200)]);
    await expectAssertion(log.compact(16)); // beyond the snapshot
    await log.compact(5); // already compacted: nothing to do
    assertBounds(log, 11, 20, 1);
    await log.close();

    const reopened = await DurableLog.open(dir, { logger });
    assertBounds(reopened, 11, 20, 1);
    assert.equal(reopened.snapshot().meta, { index: 15, term: 2, conf: conf3 });
    assert.equal(reopened.initialState(), {
      hardState: { term: 2, vote: 1, commit: 20 },
      snapshotConf: conf3,
    });
    assert.equal(reopened.entries(11, 21, 1e9), [...entries(11, 20, 2, 200)]);

    // Compacting up to the snapshot: term(snapshot index) is the snapshot term, like MemoryStorage's dummy.
    await reopened.compact(15);
    assertBounds(reopened, 16, 20, 2);
    reopened.setSnapshotProvider(() => new Uint8Array([7, 7, 7]));
    assert.equal(reopened.snapshot().data, new Uint8Array([7, 7, 7]));
    await reopened.close();
  } finally {
    await removeDir(dir);
  }
});

test('compacting everything leaves an empty log that answers term(snapshot index)', async () => {
  const dir = await tempDir();
  try {
    const log = await twentyEntries(dir);
    await log.markSnapshot({ index: 20, term: 2, conf });
    await log.compact(20);
    assertBounds(log, 21, 20, 2);
    assert.is(log.stats().entries, 0);
    await log.close();
    const reopened = await DurableLog.open(dir, { logger });
    assertBounds(reopened, 21, 20, 2);
    await reopened.save({ entries: entries(21, 22, 3) });
    await reopened.close();
    const again = await DurableLog.open(dir, { logger });
    assertBounds(again, 21, 22, 2);
    await again.close();
  } finally {
    await removeDir(dir);
  }
});

test('markSnapshot must match the log; an older one is ignored', async () => {
  const dir = await tempDir();
  try {
    const log = await twentyEntries(dir);
    await expectAssertion(log.markSnapshot({ index: 15, term: 1, conf })); // wrong term
    await expectAssertion(log.markSnapshot({ index: 21, term: 2, conf })); // beyond the log
    await log.markSnapshot({ index: 12, term: 2, conf });
    await log.markSnapshot({ index: 8, term: 1, conf }); // older: ignored
    assert.is(log.snapshot().meta.index, 12);
    await log.close();
  } finally {
    await removeDir(dir);
  }
});

test('compaction reclaims whole segment files and keeps the rest readable', async () => {
  const dir = await tempDir();
  try {
    const log = await twentyEntries(dir, 1024);
    const before = await segmentFiles(dir);
    assert.ok(before.length >= 6, `${before.length} segments`);
    assert.is(log.stats().segments, before.length);
    await log.markSnapshot({ index: 18, term: 2, conf });
    await log.compact(12);
    const after = await segmentFiles(dir);
    assert.ok(after.length < before.length, `${before.length} -> ${after.length} segments`);
    assert.is(log.stats().segments, after.length);
    // Only whole files go, and only files holding nothing after the compaction point.
    assert.equal(after, before.slice(before.length - after.length));
    assertBounds(log, 13, 20, 2);
    await log.close();
    const reopened = await DurableLog.open(dir, { logger, segmentBytes: 1024 });
    assertBounds(reopened, 13, 20, 2);
    assert.equal(reopened.entries(13, 21, 1e9), entries(13, 20, 2, 200));
    await reopened.close();
  } finally {
    await removeDir(dir);
  }
});

test('compaction past a segment whose entries a later segment overwrote (replay restarts below it)', async () => {
  const dir = await tempDir();
  try {
    const log = await DurableLog.open(dir, { logger, bootstrap: conf, segmentBytes: 4096 });
    await log.save({ entries: entries(1, 50, 1) }); // segment 1: ~2.1 KiB
    await log.save({ entries: entries(51, 60, 1, 300) }); // does not fit: segment 2
    assert.is(log.stats().segments, 2);
    // A new leader replaces 45.. with empty entries of term 2; they fit in segment 2.
    await log.save({ entries: entries(45, 70, 2, 0), hardState: { term: 2, vote: 2, commit: 70 } });
    assert.is(log.stats().segments, 2);
    await log.markSnapshot({ index: 65, term: 2, conf });
    // Segment 1 holds nothing after 55 and goes; segment 2 starts with the stale 51..60.
    await log.compact(55);
    assert.is(log.stats().segments, 1);
    await log.close();
    const reopened = await DurableLog.open(dir, { logger, segmentBytes: 4096 });
    assertBounds(reopened, 56, 70, 2);
    assert.equal(reopened.entries(56, 71, 1e9), entries(56, 70, 2, 0));
    await reopened.close();
  } finally {
    await removeDir(dir);
  }
});

test('installSnapshot restarts the log after the snapshot and keeps its data durably', async () => {
  const dir = await tempDir();
  try {
    const log = await twentyEntries(dir, 1024);
    const data = new Uint8Array(5000).map((_, i) => i % 251);
    await log.installSnapshot({ meta: { index: 50, term: 3, conf: conf3 }, data });
    assertBounds(log, 51, 50, 3);
    assert.equal(log.snapshot(), { meta: { index: 50, term: 3, conf: conf3 }, data });
    assert.equal(log.storedSnapshotData(), data);
    assert.equal(log.initialState().snapshotConf, conf3);
    // The entries before the snapshot are gone from the disk too.
    assert.is((await segmentFiles(dir)).length, 1);
    await log.save({ entries: entries(51, 55, 3), hardState: { term: 3, vote: 2, commit: 52 } });
    // An older snapshot than the current one is ignored.
    await log.installSnapshot({ meta: { index: 40, term: 3, conf }, data: new Uint8Array(1) });
    assertBounds(log, 51, 55, 3);
    await log.close();

    const reopened = await DurableLog.open(dir, { logger, segmentBytes: 1024 });
    assertBounds(reopened, 51, 55, 3);
    assert.equal(reopened.snapshot(), { meta: { index: 50, term: 3, conf: conf3 }, data });
    assert.equal(reopened.storedSnapshotData(), data);
    assert.equal(reopened.initialState().hardState, { term: 3, vote: 2, commit: 52 });

    // The state machine took it over: the received data file is superseded and removed.
    await reopened.markSnapshot({ index: 53, term: 3, conf: conf3 });
    assert.is(reopened.storedSnapshotData(), undefined);
    assert.equal(
      (await readdir(dir)).filter((n) => n.endsWith('.data')),
      [],
    );
    await reopened.compact(53);
    assertBounds(reopened, 54, 55, 3);
    await reopened.close();
    const again = await DurableLog.open(dir, { logger });
    assertBounds(again, 54, 55, 3);
    assert.is(again.storedSnapshotData(), undefined);
    assert.equal(again.snapshot().meta, { index: 53, term: 3, conf: conf3 });
    await again.close();
  } finally {
    await removeDir(dir);
  }
});

test('writes issued back to back are applied and persisted in call order', async () => {
  const dir = await tempDir();
  try {
    const log = await DurableLog.open(dir, { logger, bootstrap: conf });
    const data = new Uint8Array([1, 2, 3]);
    await Promise.all([
      log.save({ entries: entries(1, 5, 1), hardState: { term: 1, vote: 1, commit: 5 } }),
      log.installSnapshot({ meta: { index: 10, term: 2, conf }, data }),
      log.save({ entries: entries(11, 12, 2), hardState: { term: 2, vote: 1, commit: 11 } }),
      log.markSnapshot({ index: 11, term: 2, conf }),
      log.compact(11),
      log.save({ entries: entries(13, 13, 2) }),
    ]);
    assertBounds(log, 12, 13, 2);
    await log.close();
    const reopened = await DurableLog.open(dir, { logger });
    assertBounds(reopened, 12, 13, 2);
    assert.equal(reopened.snapshot().meta, { index: 11, term: 2, conf });
    assert.equal(reopened.initialState().hardState, { term: 2, vote: 1, commit: 11 });
    await reopened.close();
  } finally {
    await removeDir(dir);
  }
});

test('files left by interrupted or finished operations are removed at open; foreign files stay', async () => {
  const dir = await tempDir();
  try {
    const log = await twentyEntries(dir, 1024);
    await log.markSnapshot({ index: 18, term: 2, conf });
    const first = (await segmentFiles(dir))[0]!;
    const firstBytes = await readFile(join(dir, first));
    await log.compact(15);
    await log.close();
    // As if the process died before the unlinks, and during the write of other files.
    await writeFile(join(dir, first), firstBytes);
    await writeFile(join(dir, 'snapshot-0000000000000099-0000000000000009.data'), 'orphan');
    await writeFile(join(dir, 'meta.json.tmp'), 'half written');
    await writeFile(join(dir, 'notes.txt'), 'not ours');
    const capture = captureLogger();
    const reopened = await DurableLog.open(dir, { logger: capture.logger, segmentBytes: 1024 });
    assertBounds(reopened, 16, 20, 2);
    const names = await readdir(dir);
    assert.not.ok(names.includes(first));
    assert.not.ok(names.some((n) => n.endsWith('.data') || n.endsWith('.tmp')));
    assert.ok(names.includes('notes.txt'));
    assert.ok(capture.records.some((r) => String(r.message).startsWith('removed files')));
    await reopened.close();
  } finally {
    await removeDir(dir);
  }
});

test('a damaged or missing snapshot data file is reported as MK_DATA_CORRUPTION', async () => {
  const dir = await tempDir();
  try {
    const log = await DurableLog.open(dir, { logger, bootstrap: conf });
    await log.installSnapshot({ meta: { index: 5, term: 1, conf }, data: new Uint8Array(100).fill(9) });
    await log.close();
    const file = (await readdir(dir)).find((n) => n.endsWith('.data'))!;
    const good = await readFile(join(dir, file));
    const bad = Buffer.from(good);
    bad[50] = 0;
    await writeFile(join(dir, file), bad);
    const reopened = await DurableLog.open(dir, { logger });
    try {
      reopened.storedSnapshotData();
      assert.unreachable('the damaged data must be refused');
    } catch (error) {
      assert.ok(isMicroK8sError(error, 'MK_DATA_CORRUPTION'));
      assert.ok((error as Error).message.includes(file));
    }
    await reopened.close();
    await writeFile(join(dir, file), good.subarray(0, 10));
    try {
      await DurableLog.open(dir, { logger });
      assert.unreachable('a truncated data file stops the open');
    } catch (error) {
      assert.ok(isMicroK8sError(error, 'MK_DATA_CORRUPTION'));
      assert.ok((error as Error).message.includes(file));
    }
  } finally {
    await removeDir(dir);
  }
});

test.run();
