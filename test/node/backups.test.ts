/**
 * The retention rule of backups with secrets: the newest BACKUPS_KEPT of a kind stay, ordered by
 * the time stamp in their names (a label with numbers before it does not change the order), and
 * other names in the folder are left alone.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BACKUPS_KEPT, pruneBackups } from '../../src/node/backups.js';

test('keeps the newest BACKUPS_KEPT of a kind, by the stamp in the name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mk8s-backups-'));
  try {
    const stamps = [
      '2026-01-01T000000-000Z',
      '2026-03-01T000000-000Z',
      '2026-02-01T000000-000Z',
      '2026-05-01T000000-000Z',
      '2026-04-01T000000-000Z',
    ];
    for (const s of stamps) mkdirSync(join(dir, `certs-backup-${s}`));
    writeFileSync(join(dir, 'certs-backup-2026-03-01T000000-000Z', 'ca.key'), 'key');
    mkdirSync(join(dir, 'certs'));
    // A label whose number sorts the other way round: r9 is newer than r10 here.
    writeFileSync(join(dir, 'pre-refresh-r10-2026-01-01T000000000Z.json'), '{}');
    writeFileSync(join(dir, 'pre-refresh-r9-2026-06-01T000000000Z.json'), '{}');
    const removed = pruneBackups(dir, 'certs-backup-');
    assert.is(BACKUPS_KEPT, 3);
    assert.equal(removed.map((p) => p.slice(dir.length + 1)).sort(), [
      'certs-backup-2026-01-01T000000-000Z',
      'certs-backup-2026-02-01T000000-000Z',
    ]);
    assert.equal(
      pruneBackups(dir, 'pre-refresh-r', 1).map((p) => p.slice(dir.length + 1)),
      ['pre-refresh-r10-2026-01-01T000000000Z.json'],
    );
    assert.equal(readdirSync(dir).sort(), [
      'certs',
      'certs-backup-2026-03-01T000000-000Z',
      'certs-backup-2026-04-01T000000-000Z',
      'certs-backup-2026-05-01T000000-000Z',
      'pre-refresh-r9-2026-06-01T000000000Z.json',
    ]);
    assert.equal(pruneBackups(join(dir, 'missing'), 'x'), [], 'a missing folder has nothing to prune');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
