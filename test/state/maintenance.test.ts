/**
 * HashKV and Defragment in slices: the hash equals one computed over the whole log at once, and
 * does not move while applies go on between the slices; a second request of either kind while
 * one runs is refused (MK_LIMIT_EXCEEDED); Defragment gives the free pages back. A file database
 * (an in-memory one has nothing to vacuum).
 */
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import Database from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KvStateMachine } from '../../src/datastore/state/kv-store.js';
import { HASH_KV_STEP_ROWS } from '../../src/datastore/state/limits.js';
import { Harness, quietLogger, tempDir } from './helpers.js';

/** The CRC of every log row up to `rev`, read at once (what HashKV computed before slices). */
function referenceHash(path: string, rev: number): number {
  const db = new Database(path, { readonly: true });
  try {
    let crc = 0;
    const numbers = Buffer.alloc(40);
    for (const row of db
      .prepare(
        'SELECT key, rev, deleted, create_rev, version, lease, value FROM log WHERE rev <= ? ORDER BY id',
      )
      .iterate(rev) as Iterable<{
      rev: number;
      deleted: number;
      create_rev: number;
      version: number;
      lease: number;
      key: Buffer;
      value: Buffer;
    }>) {
      numbers.writeDoubleBE(row.rev, 0);
      numbers.writeDoubleBE(row.deleted, 8);
      numbers.writeDoubleBE(row.create_rev, 16);
      numbers.writeDoubleBE(row.version, 24);
      numbers.writeDoubleBE(row.lease, 32);
      crc = crc32(row.value, crc32(row.key, crc32(numbers, crc)));
    }
    return crc >>> 0;
  } finally {
    db.close();
  }
}

test('HashKV in slices: the whole log, steady under concurrent applies; one at a time', async () => {
  const { dir, cleanup } = tempDir();
  const path = join(dir, 'state.db');
  const h = new Harness(KvStateMachine.open(path, { logger: quietLogger }));
  try {
    const value = 'v'.repeat(200);
    for (let i = 0; i < 3 * HASH_KV_STEP_ROWS + 17; i++) h.put(`k/${i % 500}`, `${i}:${value}`);
    const revision = h.sm.revision();
    const hashing = h.sm.hashKV(0);
    const second = await h.sm.hashKV(0).then(
      () => undefined,
      (error: { code?: string }) => error.code,
    );
    assert.is(second, 'MK_LIMIT_EXCEEDED', 'a second HashKV is refused');
    // Applies between the slices do not change a hash pinned to the revision it started at.
    for (let i = 0; i < 50; i++) h.put(`later/${i}`, 'x');
    const result = await hashing;
    assert.is(result.hashRevision, revision);
    h.sm.checkpoint();
    h.sm.close();
    assert.is(result.hash, referenceHash(path, revision));
  } finally {
    cleanup();
  }
});

test('Defragment gives the free pages back, in slices; a second one is refused', async () => {
  const { dir, cleanup } = tempDir();
  const path = join(dir, 'state.db');
  const h = new Harness(KvStateMachine.open(path, { logger: quietLogger }));
  try {
    const value = 'v'.repeat(4000);
    for (let i = 0; i < 2000; i++) h.put(`big/${i}`, value);
    h.del('big/', new TextEncoder().encode('big0'));
    h.ok({ type: 'compact', revision: h.sm.revision() });
    h.sm.checkpoint();
    const before = h.sm.dbSize();
    assert.ok(h.sm.dbSizeInUse() < before / 2, 'most pages are free');
    const defrag = h.sm.defragment();
    const second = await h.sm.defragment().then(
      () => undefined,
      (error: { code?: string }) => error.code,
    );
    assert.is(second, 'MK_LIMIT_EXCEEDED');
    await defrag;
    h.sm.checkpoint();
    assert.ok(h.sm.dbSize() < before / 2, `${before} -> ${h.sm.dbSize()}`);
    assert.is(h.sm.dbSize(), h.sm.dbSizeInUse(), 'no free page left');
  } finally {
    h.sm.close();
    cleanup();
  }
});

test.run();
