/**
 * `dbctl restore FILE`: the datastore's keyspace made what a backup holds. The archive is read
 * and checked first (readArchive: a damaged one is refused and nothing is changed); then every
 * key not in it is deleted and every key in it put, in transactions of a bounded size. Keys
 * get new revisions (a logical restore): what the restored keyspace equals is the archive's
 * keys and values, which its SHA-256 covers. Keys on a lease are not in archives (backup.ts) and
 * are left alone here: they expire on their own.
 */
import { localEtcdCall } from '../cluster/local-etcd.js';
import { type KeyspaceArchive, keyspaceDigest, readArchive, readKeyspace } from './backup.js';

export const RESTORE_LIMITS = { opsPerTxn: 100 } as const;

export interface RestoreResult {
  readonly file: string;
  readonly put: number;
  readonly deleted: number;
  /** Of the keyspace afterwards (keys on a lease aside). */
  readonly sha256: string;
  /** Whether that is the archive's: false when something wrote meanwhile. */
  readonly matches: boolean;
}

async function txnBatches(socket: string, ops: readonly object[]): Promise<void> {
  for (let i = 0; i < ops.length; i += RESTORE_LIMITS.opsPerTxn) {
    await localEtcdCall(socket, 'KV', 'Txn', {
      compare: [],
      success: ops.slice(i, i + RESTORE_LIMITS.opsPerTxn),
      failure: [],
    });
  }
}

export async function restoreKeyspace(socket: string, file: string): Promise<RestoreResult> {
  const archive: KeyspaceArchive = readArchive(file);
  const wanted = new Set(archive.kvs.map((kv) => kv.key));
  const current = await readKeyspace(socket);
  const stale = current.kvs.filter((kv) => !wanted.has(kv.key));
  await txnBatches(
    socket,
    stale.map((kv) => ({ request_delete_range: { key: Buffer.from(kv.key, 'base64') } })),
  );
  await txnBatches(
    socket,
    archive.kvs.map((kv) => ({
      request_put: { key: Buffer.from(kv.key, 'base64'), value: Buffer.from(kv.value, 'base64') },
    })),
  );
  const sha256 = keyspaceDigest((await readKeyspace(socket)).kvs);
  return { file, put: archive.kvs.length, deleted: stale.length, sha256, matches: sha256 === archive.sha256 };
}
