/**
 * `dbctl restore FILE`: the datastore's keyspace made what a backup holds. The archive is read
 * and checked first (readArchive: a damaged one is refused and nothing is changed); then every
 * key not in it is deleted and every key in it put, in transactions of a bounded size. Keys
 * get new revisions (a logical restore): what the restored keyspace equals is the archive's
 * keys and values, which its SHA-256 covers, but for the records that guard the cluster's
 * identities (restore-plan.ts: never rolled back). Keys on a lease are not in archives
 * (backup.ts) and are left alone here: they expire on their own.
 */
import { localEtcdCall } from '../cluster/local-etcd.js';
import { type KeyspaceArchive, keyspaceDigest, readArchive, readKeyspace } from './backup.js';
import { restorePlan } from './restore-plan.js';

export const RESTORE_LIMITS = { opsPerTxn: 100 } as const;

export interface RestoreResult {
  readonly file: string;
  /** Keys in the archive. */
  readonly keys: number;
  /** Keys written (the others had the archive's value already). */
  readonly put: number;
  readonly deleted: number;
  /** The cluster's own records kept over the archive (restore-plan.ts). */
  readonly kept: readonly { key: string; why: string }[];
  /** Of the keyspace afterwards (keys on a lease aside). */
  readonly sha256: string;
  /** Whether that is the archive's: false when records were kept or something wrote meanwhile. */
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
  const plan = restorePlan((await readKeyspace(socket)).kvs, archive.kvs);
  await txnBatches(
    socket,
    plan.deletes.map((key) => ({ request_delete_range: { key: Buffer.from(key, 'base64') } })),
  );
  await txnBatches(
    socket,
    plan.puts.map((kv) => ({
      request_put: { key: Buffer.from(kv.key, 'base64'), value: Buffer.from(kv.value, 'base64') },
    })),
  );
  const sha256 = keyspaceDigest((await readKeyspace(socket)).kvs);
  return {
    file,
    keys: archive.kvs.length,
    put: plan.puts.length,
    deleted: plan.deletes.length,
    kept: plan.kept,
    sha256,
    matches: sha256 === archive.sha256,
  };
}
