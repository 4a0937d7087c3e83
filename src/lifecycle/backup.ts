/**
 * The pre-refresh backup: every key of the datastore read at ONE revision (paged Range calls
 * pinned to the first page's revision, so the copy is consistent), written atomically to
 * $SNAP_COMMON/backups/ as JSON with a SHA-256 of its keys and values. It is a logical copy:
 * restoring it means putting the keys back (a dbctl restore), not copying database files.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { localEtcdCall } from '../cluster/local-etcd.js';
import { assert } from '../lib/assert.js';
import type { Paths } from '../lib/paths.js';
import { writeFileAtomic } from '../node/atomic-write.js';
import { pruneBackups } from '../node/backups.js';

export const BACKUP_LIMITS = {
  pageKeys: 500,
  /** A bound on the pages (500 keys each) so a datastore that never ends the range cannot loop. */
  maxPages: 20_000,
} as const;

interface RangeAnswer {
  header: { revision: string };
  kvs: { key: Buffer; value: Buffer }[];
  more: boolean;
}

export interface KeyspaceBackup {
  readonly file: string;
  readonly revision: string;
  readonly keys: number;
  readonly sha256: string;
}

/** SHA-256 over the keys and values in order, each length-prefixed. */
export function keyspaceDigest(kvs: readonly { key: string; value: string }[]): string {
  const hash = createHash('sha256');
  for (const kv of kvs) hash.update(`${kv.key.length}:${kv.key}${kv.value.length}:${kv.value}`);
  return hash.digest('hex');
}

export async function backupKeyspace(paths: Paths, socket: string, label: string): Promise<KeyspaceBackup> {
  const kvs: { key: string; value: string }[] = [];
  let revision = '0';
  let from = Buffer.from([0]);
  for (let page = 0; ; page++) {
    assert(page < BACKUP_LIMITS.maxPages, 'the backup range ends');
    const answer = await localEtcdCall<RangeAnswer>(socket, 'KV', 'Range', {
      key: from,
      range_end: Buffer.from([0]),
      limit: String(BACKUP_LIMITS.pageKeys),
      revision,
    });
    if (page === 0) revision = answer.header.revision;
    for (const kv of answer.kvs)
      kvs.push({ key: kv.key.toString('base64'), value: kv.value.toString('base64') });
    const last = answer.kvs.at(-1);
    if (!answer.more || last === undefined) break;
    from = Buffer.concat([last.key, Buffer.from([0])]);
  }
  const dir = join(paths.common, 'backups');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${label}-${new Date().toISOString().replace(/[:.]/g, '')}.json`);
  const sha256 = keyspaceDigest(kvs);
  const archive = {
    format: 'microk8s-keyspace/1',
    revision,
    createdAt: new Date().toISOString(),
    sha256,
    kvs,
  };
  await writeFileAtomic(file, `${JSON.stringify(archive)}\n`, { mode: 0o600 });
  pruneBackups(dir, `${label.replace(/-r\d+$/, '-r')}`);
  return { file, revision, keys: kvs.length, sha256 };
}
