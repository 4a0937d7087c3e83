/**
 * The node record: what this node is, in one versioned file ($SNAP_DATA/node.json), written
 * atomically under the node's lock. Role questions (is this a worker? has it joined a cluster?)
 * are answered from it, never from which files happen to exist.
 *
 * `schema` is the record's version: a reader refuses a record newer than it knows, and the snap's
 * migrations step older ones forward. A node made before the record existed (args files only)
 * gets one derived once from those files by `recordFromLegacyFiles`, the one place that may
 * look at them, on the first start of this version (`loadNodeRecord`).
 *
 * Schema history: 1, the fields below without `writtenBy`; 2 adds `writtenBy`, the version and
 * snap revision that last wrote the record (a `snap revert` to a revision that cannot read it is
 * told which one did). A v1 record reads as `writtenBy: null`; `stepNodeRecordForward` (the
 * snap's post-refresh migration) rewrites it as v2, and so does any write.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { versionInfo } from '../lib/version.js';
import { readArgsFile } from './args-file.js';
import { writeFileAtomic } from './atomic-write.js';
import { withFileLock } from './lock.js';

export const NODE_RECORD_SCHEMA = 2;
export const NODE_RECORD_FILE = 'node.json';
const NODE_LOCK_FILE = '.node.lock';

export type NodeKind = 'fresh' | 'control-plane' | 'worker';

export interface NodeRecord {
  readonly schema: number;
  readonly kind: NodeKind;
  /** The cluster this node belongs to (null for a fresh node, or a worker of an unknown cluster). */
  readonly clusterId: string | null;
  /** Its datastore member id (control plane only). */
  readonly memberId: number | null;
  /** The IP address the node is known by in its cluster. */
  readonly address: string | null;
  /** When it became part of its cluster (set up as the first node, or joined), ISO 8601 UTC. */
  readonly joinedAt: string | null;
  /** Who last wrote the record (schema 2); null when it was read from a schema 1 record. */
  readonly writtenBy: { readonly version: string; readonly revision: string } | null;
}

/** What writers give: the schema and the writer are filled in by the write itself. */
export type NodeRecordFields = Omit<NodeRecord, 'schema' | 'writtenBy'>;

export const FRESH_NODE: NodeRecord = {
  schema: NODE_RECORD_SCHEMA,
  kind: 'fresh',
  clusterId: null,
  memberId: null,
  address: null,
  joinedAt: null,
  writtenBy: null,
};

export function nodeRecordPath(paths: Paths): string {
  return join(paths.data, NODE_RECORD_FILE);
}

function corrupt(path: string, why: string): never {
  throw new MicroK8sError('MK_DATA_CORRUPTION', `the node record ${path} ${why}`, { file: path });
}

const KINDS: readonly NodeKind[] = ['fresh', 'control-plane', 'worker'];

/** Check a parsed record's shape (every field present, of its type). */
export function checkNodeRecord(value: unknown, path: string): NodeRecord {
  if (typeof value !== 'object' || value === null) corrupt(path, 'is not a JSON object');
  const r = value as Record<string, unknown>;
  if (!Number.isInteger(r.schema)) corrupt(path, 'has no schema version');
  if ((r.schema as number) > NODE_RECORD_SCHEMA) {
    throw new MicroK8sError(
      'MK_INVALID_CONFIG',
      `the node record ${path} has schema ${r.schema}, newer than this version knows (${NODE_RECORD_SCHEMA})`,
      { file: path },
    );
  }
  if (!KINDS.includes(r.kind as NodeKind)) corrupt(path, `has an unknown kind ${JSON.stringify(r.kind)}`);
  const stringOrNull = (name: string) => r[name] === null || typeof r[name] === 'string';
  if (!stringOrNull('clusterId') || !stringOrNull('address') || !stringOrNull('joinedAt'))
    corrupt(path, 'has a field of the wrong type');
  if (!(r.memberId === null || (Number.isInteger(r.memberId) && (r.memberId as number) > 0)))
    corrupt(path, 'has a member id that is not a positive integer');
  let writtenBy: NodeRecord['writtenBy'] = null;
  if ((r.schema as number) >= 2) {
    const w = r.writtenBy as Record<string, unknown> | null | undefined;
    if (
      typeof w !== 'object' ||
      w === null ||
      typeof w.version !== 'string' ||
      typeof w.revision !== 'string'
    )
      corrupt(path, 'has no writtenBy {version, revision}');
    writtenBy = { version: w.version as string, revision: w.revision as string };
  }
  return {
    schema: r.schema as number,
    kind: r.kind as NodeKind,
    clusterId: r.clusterId as string | null,
    memberId: r.memberId as number | null,
    address: r.address as string | null,
    joinedAt: r.joinedAt as string | null,
    writtenBy,
  };
}

/** The record, or undefined when this node has none yet. */
export function readNodeRecord(paths: Paths): NodeRecord | undefined {
  const path = nodeRecordPath(paths);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    corrupt(path, `is not JSON: ${(error as Error).message}`);
  }
  return checkNodeRecord(parsed, path);
}

/** Run `body` under the node's lock (the record's writers take it). */
export async function withNodeLock<T>(paths: Paths, body: () => Promise<T> | T): Promise<T> {
  await mkdir(paths.data, { recursive: true });
  return withFileLock(join(paths.data, NODE_LOCK_FILE), body);
}

async function writeRecordFile(paths: Paths, record: NodeRecordFields): Promise<void> {
  const { version, revision } = versionInfo();
  const fields: NodeRecordFields = {
    kind: record.kind,
    clusterId: record.clusterId,
    memberId: record.memberId,
    address: record.address,
    joinedAt: record.joinedAt,
  };
  const written = { ...fields, schema: NODE_RECORD_SCHEMA, writtenBy: { version, revision } };
  const full = checkNodeRecord(written, nodeRecordPath(paths));
  await writeFileAtomic(nodeRecordPath(paths), `${JSON.stringify(full, null, 2)}\n`);
}

/** Replace the record (a set-up, a join, a leave): atomically, under the node's lock. */
export async function writeNodeRecord(paths: Paths, record: NodeRecordFields): Promise<NodeRecord> {
  await withNodeLock(paths, () => writeRecordFile(paths, record));
  return readNodeRecord(paths)!;
}

/** Change some fields of the record (read-modify-write under the node's lock). */
export async function updateNodeRecord(
  paths: Paths,
  change: (record: NodeRecord) => NodeRecordFields,
): Promise<NodeRecord> {
  return withNodeLock(paths, async () => {
    const current = readNodeRecord(paths) ?? recordFromLegacyFiles(paths);
    await writeRecordFile(paths, change(current));
    return readNodeRecord(paths)!;
  });
}

/**
 * MIGRATION (schema 1 -> 2): the record rewritten at the current schema, under the node's lock;
 * the schema it had before, or undefined when there is no record (nothing to migrate).
 */
export async function stepNodeRecordForward(paths: Paths): Promise<number | undefined> {
  return withNodeLock(paths, async () => {
    const current = readNodeRecord(paths);
    if (current === undefined) return undefined;
    if (current.schema < NODE_RECORD_SCHEMA) await writeRecordFile(paths, current);
    return current.schema;
  });
}

function hostOf(hostPort: string | undefined): string | null {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):\d+$/.exec(hostPort ?? '');
  return m ? (m[1] ?? m[2])! : null;
}

/**
 * MIGRATION (nodes made before the record): what the node is, derived from its args files the
 * way earlier versions decided it. A datastore args file makes a control-plane node (its id,
 * --cluster-id, the host of --peer-listen); an API-server proxy args file without one makes a
 * worker (its --local-address); neither is a fresh node. The joined-at time is unknown: the args
 * file's last change is the best there is.
 */
export function recordFromLegacyFiles(paths: Paths): NodeRecord {
  const datastoreArgs = join(paths.args, 'datastore');
  const proxyArgs = join(paths.args, 'apiserver-proxy');
  const changedAt = (file: string) => statSync(file).mtime.toISOString();
  if (existsSync(datastoreArgs)) {
    const flags = readArgsFile(datastoreArgs);
    const id = Number(flags.get('id')?.[0]);
    return {
      schema: NODE_RECORD_SCHEMA,
      kind: 'control-plane',
      clusterId: flags.get('cluster-id')?.[0] ?? null,
      memberId: Number.isInteger(id) && id > 0 ? id : null,
      address: hostOf(flags.get('peer-listen')?.[0]),
      joinedAt: changedAt(datastoreArgs),
      writtenBy: null,
    };
  }
  if (existsSync(proxyArgs)) {
    const flags = readArgsFile(proxyArgs);
    return {
      schema: NODE_RECORD_SCHEMA,
      kind: 'worker',
      clusterId: null,
      memberId: null,
      address: flags.get('local-address')?.[0] ?? null,
      joinedAt: changedAt(proxyArgs),
      writtenBy: null,
    };
  }
  return FRESH_NODE;
}

/**
 * The record, written first from the legacy files when this node has none (the first start of
 * this version on a node made by an earlier one). What a node's daemons call at start.
 */
export async function loadNodeRecord(paths: Paths): Promise<NodeRecord> {
  const existing = readNodeRecord(paths);
  if (existing) return existing;
  return withNodeLock(paths, async () => {
    const raced = readNodeRecord(paths);
    if (raced) return raced;
    const migrated = recordFromLegacyFiles(paths);
    if (migrated.kind !== 'fresh') await writeRecordFile(paths, migrated);
    return migrated;
  });
}

/** The record for answering a question without writing (status): the record, else the derivation. */
export function currentNodeRecord(paths: Paths): NodeRecord {
  return readNodeRecord(paths) ?? recordFromLegacyFiles(paths);
}
