/**
 * The datastore's backup (pre-refresh, `dbctl backup`): every key read at ONE revision (paged
 * Range calls pinned to the first page's revision, so the copy is consistent), written
 * atomically as JSON with a SHA-256 of its keys and values, by default to $SNAP_COMMON/backups/.
 * It is a logical copy: restoring it puts the keys back (restore.ts), on any node or cluster.
 * Keys on an etcd lease (the refresh lease pre-refresh has just taken, Kubernetes' events and
 * endpoint leases) are left out: an archive carries no leases, and such a key restored without
 * its lease would never expire (a restored refresh lease would refuse every refresh after).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { localEtcdCall } from '../cluster/local-etcd.js';
import { assert } from '../lib/assert.js';
import { MicroK8sError } from '../lib/errors.js';
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
  kvs: { key: Buffer; value: Buffer; lease?: string }[];
  more: boolean;
}

export interface KeyspaceBackup {
  readonly file: string;
  readonly revision: string;
  readonly keys: number;
  /** Keys on a lease, left out. */
  readonly leased: number;
  readonly sha256: string;
}

/** SHA-256 over the keys and values in order, each length-prefixed. */
export function keyspaceDigest(kvs: readonly { key: string; value: string }[]): string {
  const hash = createHash('sha256');
  for (const kv of kvs) hash.update(`${kv.key.length}:${kv.key}${kv.value.length}:${kv.value}`);
  return hash.digest('hex');
}

export const ARCHIVE_FORMAT = 'microk8s-keyspace/2';
/** The first format: no header check (its revision and time were not covered); still read. */
const ARCHIVE_FORMAT_V1 = 'microk8s-keyspace/1';

export interface KeyspaceArchive {
  readonly format: string;
  readonly revision: string;
  readonly createdAt: string;
  /** Of the keys and values (keyspaceDigest): what a restored keyspace is compared with. */
  readonly sha256: string;
  /** Of the other fields (headerDigest): with sha256, every byte of the archive is covered. */
  readonly headerSha256?: string;
  /** Keys and values, base64, in key order. */
  readonly kvs: readonly { key: string; value: string }[];
}

function headerDigest(archive: Omit<KeyspaceArchive, 'kvs' | 'headerSha256'>): string {
  return createHash('sha256')
    .update(`${archive.format}\n${archive.revision}\n${archive.createdAt}\n${archive.sha256}\n`)
    .digest('hex');
}

/** Every key and value at one revision (base64) but those on a lease (counted), and that revision. */
export async function readKeyspace(
  socket: string,
): Promise<{ revision: string; kvs: { key: string; value: string }[]; leased: number }> {
  const kvs: { key: string; value: string }[] = [];
  let leased = 0;
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
    for (const kv of answer.kvs) {
      if (kv.lease !== undefined && kv.lease !== '0') leased++;
      else kvs.push({ key: kv.key.toString('base64'), value: kv.value.toString('base64') });
    }
    const last = answer.kvs.at(-1);
    if (!answer.more || last === undefined) break;
    from = Buffer.concat([last.key, Buffer.from([0])]);
  }
  return { revision, kvs, leased };
}

/**
 * The keyspace to `file`, or to $SNAP_COMMON/backups/<label>-<UTC>.json (older ones of the same
 * label pruned).
 */
export async function backupKeyspace(
  paths: Paths,
  socket: string,
  label: string,
  file?: string,
): Promise<KeyspaceBackup> {
  const { revision, kvs, leased } = await readKeyspace(socket);
  const dir = join(paths.common, 'backups');
  const target = file ?? join(dir, `${label}-${new Date().toISOString().replace(/[:.]/g, '')}.json`);
  if (file === undefined) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const sha256 = keyspaceDigest(kvs);
  const header = { format: ARCHIVE_FORMAT, revision, createdAt: new Date().toISOString(), sha256 };
  const archive: KeyspaceArchive = { ...header, headerSha256: headerDigest(header), kvs };
  await writeFileAtomic(target, `${JSON.stringify(archive)}\n`, { mode: 0o600 });
  if (file === undefined) pruneBackups(dir, `${label.replace(/-r\d+$/, '-r')}`);
  return { file: target, revision, keys: kvs.length, leased, sha256 };
}

/** An archive read back and checked (format, shape, SHA-256); MK_DATA_CORRUPTION otherwise. */
export function readArchive(file: string): KeyspaceArchive {
  const corrupt = (why: string): never => {
    throw new MicroK8sError('MK_DATA_CORRUPTION', `the backup ${file} ${why}; nothing was changed`, { file });
  };
  let archive: KeyspaceArchive;
  try {
    archive = JSON.parse(readFileSync(file, 'utf8')) as KeyspaceArchive;
  } catch (error) {
    return corrupt(`cannot be read as JSON (${(error as Error).message})`);
  }
  if (archive?.format !== ARCHIVE_FORMAT && archive?.format !== ARCHIVE_FORMAT_V1)
    corrupt(`is not a ${ARCHIVE_FORMAT} archive`);
  if (archive.format === ARCHIVE_FORMAT && archive.headerSha256 !== headerDigest(archive))
    corrupt('has a header that does not match its SHA-256 (damaged or edited)');
  const base64 = (text: unknown) => typeof text === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(text);
  if (!Array.isArray(archive.kvs) || !archive.kvs.every((kv) => base64(kv?.key) && base64(kv?.value)))
    corrupt('has a malformed key list');
  if (keyspaceDigest(archive.kvs) !== archive.sha256)
    corrupt('does not match its SHA-256 (damaged or edited)');
  return archive;
}
