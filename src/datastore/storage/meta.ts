/**
 * The meta file: what the segments alone cannot say. It is small, rewritten atomically (see
 * writeFileAtomic) and only on the rare events that change it: bootstrap, a snapshot installed or
 * marked, a compaction. It is JSON for the operator's sake, with a checksum over the body.
 */
import { crc32 } from 'node:zlib';
import { MicroK8sError } from '../../lib/errors.js';
import type { ConfState, Member, SnapshotMeta } from '../raft/types.js';
import { isSnapshotDataName } from './files.js';

export const META_FORMAT_VERSION = 1;

/** A snapshot data file received from the leader, with what is needed to check it. */
export interface SnapshotDataRef {
  readonly file: string;
  readonly bytes: number;
  readonly crc: number;
}

export interface LogMeta {
  /** The latest snapshot: installed from the leader or marked by the local state machine. */
  readonly snapshot: SnapshotMeta;
  /** The log holds entries after this point only; its term answers term(firstIndex - 1). */
  readonly compacted: { readonly index: number; readonly term: number };
  /** Segments before this one are superseded (compacted or replaced by a snapshot). */
  readonly firstSegment: number;
  readonly data: SnapshotDataRef | null;
}

export function encodeMeta(meta: LogMeta): Buffer {
  const body = JSON.stringify(meta);
  return Buffer.from(`${JSON.stringify({ format: META_FORMAT_VERSION, crc: crc32(body), body: meta })}\n`);
}

const ROLES = new Set(['voter', 'standby', 'spare']);

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isMember(v: unknown): v is Member {
  return isObject(v) && isIndex(v.id) && v.id > 0 && typeof v.role === 'string' && ROLES.has(v.role);
}

function isConf(v: unknown): v is ConfState {
  return isObject(v) && Array.isArray(v.members) && v.members.every(isMember);
}

function isSnapshotMeta(v: unknown): v is SnapshotMeta {
  return isObject(v) && isIndex(v.index) && isIndex(v.term) && isConf(v.conf);
}

function isDataRef(v: unknown): v is SnapshotDataRef {
  return (
    isObject(v) &&
    typeof v.file === 'string' &&
    isSnapshotDataName(v.file) &&
    isIndex(v.bytes) &&
    isIndex(v.crc)
  );
}

/** Parse and check the meta file; anything unexpected is corruption, never a reason to guess. */
export function parseMeta(raw: Buffer, file: string): LogMeta {
  const fail = (why: string): never => {
    throw new MicroK8sError('MK_DATA_CORRUPTION', `${file}: ${why}`, { file });
  };
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch (error) {
    return fail(`does not parse as JSON (${(error as Error).message})`);
  }
  if (!isObject(doc)) return fail('is not a JSON object');
  if (doc.format !== META_FORMAT_VERSION) return fail(`unknown format ${String(doc.format)}`);
  const body = doc.body;
  if (!isObject(body) || crc32(JSON.stringify(body)) !== doc.crc) return fail('checksum mismatch');
  const { snapshot, compacted, firstSegment, data } = body;
  if (!isSnapshotMeta(snapshot)) return fail('malformed snapshot meta');
  if (!isObject(compacted) || !isIndex(compacted.index) || !isIndex(compacted.term)) {
    return fail('malformed compaction point');
  }
  if (compacted.index > snapshot.index) {
    return fail(`compacted index ${compacted.index} is beyond the snapshot index ${snapshot.index}`);
  }
  if (!isIndex(firstSegment) || firstSegment < 1) return fail('malformed first segment');
  if (data !== null && !isDataRef(data)) return fail('malformed snapshot data reference');
  return {
    snapshot,
    compacted: { index: compacted.index, term: compacted.term },
    firstSegment,
    data: data as SnapshotDataRef | null,
  };
}
