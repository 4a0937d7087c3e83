// Opening after a crash or damage: a torn tail is cut (with a warning), anything else stops the
// open with MK_DATA_CORRUPTION and leaves every file exactly as it was.
import { appendFile, readFile, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DurableLog } from '../../src/datastore/storage/durable-log.js';
import {
  COMMIT_RECORD_BYTES as COMMIT,
  encodeBatch,
  encodeEntry,
  encodeHardState,
  SEGMENT_START_BYTES,
} from '../../src/datastore/storage/records.js';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { SeededRandom } from '../../src/lib/random.js';
import {
  captureLogger,
  entries,
  entry,
  hashDir,
  quietLogger,
  removeDir,
  segmentFiles,
  tempDir,
} from './helpers.js';

const logger = quietLogger();
/** Bytes of one test entry record: 8 frame + 18 fixed + 16 data. */
const RECORD = encodeEntry(entry(1, 1)).length;
const HARD = encodeHardState({ term: 1, vote: 1, commit: 1 }).length;
/** makeLog's saves on disk: entry + hard state + commit record, and the last one without hard state. */
const SAVE = RECORD + HARD + COMMIT;
const LAST_SAVE = RECORD + COMMIT;

/**
 * A closed log with entries 1..count, one save each, the last save carrying only an entry.
 * Returns where the records of the last segment end: after them comes preallocated zero space.
 */
async function makeLog(dir: string, count: number, segmentBytes?: number): Promise<number> {
  const log = await DurableLog.open(dir, { logger, ...(segmentBytes ? { segmentBytes } : {}) });
  for (let i = 1; i <= count; i++) {
    await log.save({
      entries: [entry(i, 1)],
      ...(i < count ? { hardState: { term: 1, vote: 1, commit: i } } : {}),
    });
  }
  const stats = log.stats();
  await log.close();
  return stats.segments === 1 ? stats.bytes : -1;
}

async function lastSegment(dir: string): Promise<string> {
  const segs = await segmentFiles(dir);
  return join(dir, segs[segs.length - 1]!);
}

function garbage(bytes: number, seed: number): Buffer {
  const rng = new SeededRandom(seed);
  const buf = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) buf[i] = rng.nextUint32() & 0xff;
  return buf;
}

/** Write into the file in place (over preallocated space, as the log itself would). */
async function writeAt(path: string, offset: number, data: Buffer): Promise<void> {
  const buf = await readFile(path);
  assert.ok(buf.length >= offset + data.length, 'room in the preallocated space');
  data.copy(buf, offset);
  await writeFile(path, buf);
}

async function flipByte(path: string, offset: number): Promise<void> {
  const buf = await readFile(path);
  buf[offset] = buf[offset]! ^ 0x5a;
  await writeFile(path, buf);
}

/** Open must fail with MK_DATA_CORRUPTION naming `names`, and leave the files byte-identical. */
async function expectCorruption(dir: string, ...names: string[]): Promise<string> {
  const before = await hashDir(dir);
  let message = '';
  try {
    const log = await DurableLog.open(dir, { logger });
    await log.close();
    assert.unreachable('the open must fail');
  } catch (error) {
    assert.ok(isMicroK8sError(error, 'MK_DATA_CORRUPTION'), String(error));
    message = (error as Error).message;
    for (const name of names) assert.ok(message.includes(name), `"${message}" names ${name}`);
  }
  assert.equal(await hashDir(dir), before, 'the files are untouched');
  return message;
}

async function expectTornTail(dir: string, lastIndex: number): Promise<Record<string, unknown>> {
  const path = await lastSegment(dir);
  const capture = captureLogger();
  const log = await DurableLog.open(dir, { logger: capture.logger });
  assert.is(log.lastIndex(), lastIndex);
  assert.equal(log.entries(1, lastIndex + 1, 1e9), entries(1, lastIndex, 1));
  const warnings = capture.warnings();
  assert.is(warnings.length, 1, 'one warning');
  const warning = warnings[0]!;
  assert.is(warning.file, path);
  assert.type(warning.validBytes, 'number');
  assert.ok((warning.fileBytes as number) > (warning.validBytes as number));
  assert.is((await stat(path)).size, warning.validBytes, 'the file was cut at the last valid record');
  // The log goes on from there, and the repaired file opens cleanly.
  await log.save({ entries: [entry(lastIndex + 1, 1)] });
  await log.close();
  const again = captureLogger();
  const reopened = await DurableLog.open(dir, { logger: again.logger });
  assert.is(reopened.lastIndex(), lastIndex + 1);
  assert.is(again.warnings().length, 0);
  await reopened.close();
  return warning;
}

test('torn tail: the last record cut in the middle', async () => {
  const dir = await tempDir();
  try {
    const end = await makeLog(dir, 10);
    const path = await lastSegment(dir);
    const cut = end - COMMIT - Math.floor(RECORD / 2);
    await truncate(path, cut);
    const warning = await expectTornTail(dir, 9);
    assert.is(warning.validBytes, end - LAST_SAVE);
    assert.is(warning.fileBytes, cut);
  } finally {
    await removeDir(dir);
  }
});

test('torn tail: only the frame of the last record was written', async () => {
  const dir = await tempDir();
  try {
    const end = await makeLog(dir, 10);
    const path = await lastSegment(dir);
    await truncate(path, end - LAST_SAVE + 5);
    await expectTornTail(dir, 9);
  } finally {
    await removeDir(dir);
  }
});

test('torn tail: random garbage written after the last record, into the preallocated space', async () => {
  const dir = await tempDir();
  try {
    const end = await makeLog(dir, 10);
    const path = await lastSegment(dir);
    const buf = await readFile(path);
    assert.ok(buf.length > end + 300, 'the segment has preallocated space');
    garbage(300, 1).copy(buf, end);
    await writeFile(path, buf);
    const warning = await expectTornTail(dir, 10);
    assert.is(warning.validBytes, end);
  } finally {
    await removeDir(dir);
  }
});

test('torn tail: random garbage appended at the end of the file', async () => {
  const dir = await tempDir();
  try {
    const end = await makeLog(dir, 10);
    await appendFile(await lastSegment(dir), garbage(300, 3));
    const warning = await expectTornTail(dir, 10);
    assert.is(warning.validBytes, end);
  } finally {
    await removeDir(dir);
  }
});

test('torn tail: the last record cut and garbage after it', async () => {
  const dir = await tempDir();
  try {
    const end = await makeLog(dir, 10);
    const path = await lastSegment(dir);
    await truncate(path, end - 20);
    await appendFile(path, garbage(4000, 2));
    await expectTornTail(dir, 9);
  } finally {
    await removeDir(dir);
  }
});

test('zeros after the last record are preallocated space: a clean end, no warning, nothing cut', async () => {
  const dir = await tempDir();
  try {
    await makeLog(dir, 10);
    const path = await lastSegment(dir);
    await appendFile(path, Buffer.alloc(8192));
    const size = (await stat(path)).size;
    const capture = captureLogger();
    const log = await DurableLog.open(dir, { logger: capture.logger });
    assert.is(log.lastIndex(), 10);
    assert.is(capture.warnings().length, 0);
    await log.save({ entries: [entry(11, 1)] });
    await log.close();
    assert.is((await stat(path)).size, size, 'the space is reused, not cut');
    const reopened = await DurableLog.open(dir, { logger });
    assert.is(reopened.lastIndex(), 11);
    await reopened.close();
  } finally {
    await removeDir(dir);
  }
});

test('torn tail: a bad checksum in the final records at the very end', async () => {
  const dir = await tempDir();
  try {
    const end = await makeLog(dir, 10);
    const path = await lastSegment(dir);
    // Damage the last two records (entry 10 and the commit record of its batch).
    await flipByte(path, end - 3);
    await flipByte(path, end - COMMIT - 3);
    await expectTornTail(dir, 9);
  } finally {
    await removeDir(dir);
  }
});

test('torn tail: the final batch persisted out of order (a hole, then its later records and commit)', async () => {
  const dir = await tempDir();
  try {
    const log = await DurableLog.open(dir, { logger });
    await log.save({ entries: entries(1, 10, 1), hardState: { term: 1, vote: 1, commit: 10 } });
    const start = log.stats().bytes;
    await log.save({ entries: entries(11, 400, 1), hardState: { term: 1, vote: 1, commit: 400 } }); // ~16 KiB
    await log.close();
    // A power cut in the middle of the last fdatasync: one page of the batch never made it.
    const path = await lastSegment(dir);
    const buf = await readFile(path);
    buf.fill(0, start + 4096, start + 8192);
    await writeFile(path, buf);
    const capture = captureLogger();
    const reopened = await DurableLog.open(dir, { logger: capture.logger });
    assert.is(reopened.lastIndex(), 10);
    assert.equal(reopened.initialState().hardState, { term: 1, vote: 1, commit: 10 });
    assert.is(capture.warnings().length, 1);
    assert.is(capture.warnings()[0]!.validBytes, start);
    await reopened.close();
  } finally {
    await removeDir(dir);
  }
});

test('corruption: a flipped byte inside an early record stops the open, files untouched', async () => {
  const dir = await tempDir();
  try {
    await makeLog(dir, 10);
    const path = await lastSegment(dir);
    const seg = (await segmentFiles(dir))[0]!;
    // The segment holds its header, then one batch per save: this is inside entry 2.
    await flipByte(path, SEGMENT_START_BYTES + SAVE + 20);
    const message = await expectCorruption(dir, seg);
    assert.match(message, /byte offset \d+/);
    assert.match(message, /followed by a complete batch/);
  } finally {
    await removeDir(dir);
  }
});

test('corruption: a flipped length field in the middle stops the open', async () => {
  const dir = await tempDir();
  try {
    await makeLog(dir, 10);
    const path = await lastSegment(dir);
    const buf = await readFile(path);
    // Find entry 3's record by its encoding and damage its length.
    const at = buf.indexOf(encodeEntry(entry(3, 1)));
    assert.ok(at > 0);
    await flipByte(path, at + 1);
    await expectCorruption(dir, (await segmentFiles(dir))[0]!);
  } finally {
    await removeDir(dir);
  }
});

test('corruption: damage at the end of a segment that is not the last one', async () => {
  const dir = await tempDir();
  try {
    await makeLog(dir, 40, 1024);
    const segs = await segmentFiles(dir);
    assert.ok(segs.length >= 3, `${segs.length} segments`);
    // Cut the first segment in the middle of its third save.
    await truncate(join(dir, segs[0]!), SEGMENT_START_BYTES + 2 * SAVE + 10);
    const message = await expectCorruption(dir, segs[0]!);
    assert.match(message, /not the last one/);
  } finally {
    await removeDir(dir);
  }
});

test('corruption: a missing segment', async () => {
  const dir = await tempDir();
  try {
    await makeLog(dir, 40, 1024);
    const segs = await segmentFiles(dir);
    await unlink(join(dir, segs[1]!));
    await expectCorruption(dir, segs[1]!);
  } finally {
    await removeDir(dir);
  }
});

test('corruption: a meta file that does not parse, or a missing one', async () => {
  const dir = await tempDir();
  try {
    await makeLog(dir, 5);
    const meta = join(dir, 'meta.json');
    const good = await readFile(meta);
    await writeFile(meta, good.subarray(0, 20));
    await expectCorruption(dir, 'meta.json');
    // Valid JSON whose checksum does not match the body.
    await writeFile(meta, good.toString().replace('"firstSegment":1', '"firstSegment":2'));
    assert.match(await expectCorruption(dir, 'meta.json'), /checksum/);
    await unlink(meta);
    await expectCorruption(dir, 'meta.json');
  } finally {
    await removeDir(dir);
  }
});

test('corruption: entries that do not continue the index sequence', async () => {
  const dir = await tempDir();
  try {
    const end = await makeLog(dir, 3);
    // Well-formed records with valid checksums, but entry 5 follows entry 3.
    await writeAt(
      await lastSegment(dir),
      end,
      encodeBatch(end, [encodeEntry(entry(5, 1)), encodeEntry(entry(6, 1))]),
    );
    assert.match(await expectCorruption(dir, (await segmentFiles(dir))[0]!), /does not continue/);
  } finally {
    await removeDir(dir);
  }
});

test('corruption: an entry whose term goes down', async () => {
  const dir = await tempDir();
  try {
    const log = await DurableLog.open(dir, { logger });
    await log.save({ entries: entries(1, 3, 2) });
    const end = log.stats().bytes;
    await log.close();
    await writeAt(await lastSegment(dir), end, encodeBatch(end, [encodeEntry(entry(4, 1))]));
    assert.match(await expectCorruption(dir, (await segmentFiles(dir))[0]!), /term/);
  } finally {
    await removeDir(dir);
  }
});

test('corruption: the hard state commits beyond the log', async () => {
  const dir = await tempDir();
  try {
    const end = await makeLog(dir, 3);
    await writeAt(
      await lastSegment(dir),
      end,
      encodeBatch(end, [encodeHardState({ term: 1, vote: 1, commit: 7 })]),
    );
    assert.match(await expectCorruption(dir, (await segmentFiles(dir))[0]!), /commits 7/);
  } finally {
    await removeDir(dir);
  }
});

test('a directory without a meta file and without log files is a new log; foreign files are left alone', async () => {
  const dir = await tempDir();
  try {
    await writeFile(join(dir, 'README'), 'not ours');
    const log = await DurableLog.open(dir, { logger });
    await log.save({ entries: entries(1, 2, 1) });
    await log.close();
    assert.is((await readFile(join(dir, 'README'))).toString(), 'not ours');
  } finally {
    await removeDir(dir);
  }
});

test('a bootstrap cut by a crash (segment 1 written or torn, no meta file yet) is done again', async () => {
  const dir = await tempDir();
  try {
    await makeLog(dir, 0);
    const segment = await lastSegment(dir);
    await unlink(join(dir, 'meta.json'));
    for (const damage of [() => Promise.resolve(), () => truncate(segment, 20), () => truncate(segment, 0)]) {
      await damage();
      const log = await DurableLog.open(dir, { logger });
      assert.is(log.lastIndex(), 0);
      await log.close();
      await unlink(join(dir, 'meta.json'));
    }
    await unlink(segment);
    const log = await DurableLog.open(dir, { logger });
    await log.save({ entries: entries(1, 2, 1), hardState: { term: 1, vote: 1, commit: 1 } });
    await log.close();
    const reopened = await DurableLog.open(dir, { logger });
    assert.is(reopened.lastIndex(), 2);
    await reopened.close();
  } finally {
    await removeDir(dir);
  }
});

test('once the meta file exists, a missing or headless first segment is corruption, never a new log', async () => {
  const dir = await tempDir();
  try {
    // Even a log with nothing in it: its hard state or votes could have been acknowledged.
    await makeLog(dir, 0);
    const segment = await lastSegment(dir);
    const bytes = await readFile(segment);
    await unlink(segment);
    await expectCorruption(dir, '0000000000000001.seg');
    await writeFile(segment, bytes.subarray(0, 10));
    await expectCorruption(dir, '0000000000000001.seg');
    await writeFile(segment, bytes);
    // And a log whose meta file is lost while its segment holds entries.
    const used = await tempDir();
    try {
      await makeLog(used, 3);
      await unlink(join(used, 'meta.json'));
      await expectCorruption(used, 'meta.json');
    } finally {
      await removeDir(used);
    }
  } finally {
    await removeDir(dir);
  }
});

test.run();
