/**
 * Binary encoding of Raft messages (src/datastore/raft/types.ts), hand-written so that the
 * format is small, fast and fully validated on the way in.
 *
 * Message:
 *   u8   type                      MessageType, 1..15
 *   u16  presence mask (big-endian) one bit per optional field, see FIELD below; the booleans
 *                                   `reject` and `transfer` use a presence bit and a value bit
 *   varint from, to, term           from and to are node ids >= 1
 *   then, in bit order, each present field:
 *     logTerm, index, commit, rejectHint, offset, totalBytes, readSeq, context, target: varint
 *     entries:  varint count, then per entry varint term, varint index, u8 type (0|1),
 *               varint length + data bytes
 *     snapshot: varint index, varint term, varint member count, then per member
 *               varint id, u8 role (0 voter, 1 standby, 2 spare)
 *     chunk:    varint length + bytes
 * Batch: varint count, then the messages back to back (each is self-delimiting).
 *
 * Varints are canonical LEB128 of integers in [0, 2^53 - 1]. Decoding either returns a whole,
 * valid message or throws MK_BAD_FRAME: lengths and counts are checked against the bytes that
 * remain before anything is allocated, enums are checked, trailing bytes are an error.
 */
import { assert } from '../../lib/assert.js';
import { type ByteReader, ByteWriter } from '../../lib/bytes.js';
import type { Entry, Member, Message, MessageType, Role, SnapshotMeta } from '../raft/types.js';
import { EntryType } from '../raft/types.js';
import { badFrame, frameReader } from './bad-frame.js';

const FIELD = {
  logTerm: 1 << 0,
  index: 1 << 1,
  entries: 1 << 2,
  commit: 1 << 3,
  reject: 1 << 4,
  rejectHint: 1 << 5,
  snapshot: 1 << 6,
  chunk: 1 << 7,
  offset: 1 << 8,
  totalBytes: 1 << 9,
  readSeq: 1 << 10,
  context: 1 << 11,
  transfer: 1 << 12,
  target: 1 << 13,
  rejectValue: 1 << 14,
  transferValue: 1 << 15,
} as const;

const MIN_MESSAGE_TYPE = 1;
const MAX_MESSAGE_TYPE = 15;
/** type + mask + from + to + term, each at their smallest. */
export const MIN_MESSAGE_BYTES = 1 + 2 + 1 + 1 + 1;
/** term + index + type + data length. */
const MIN_ENTRY_BYTES = 4;
/** id + role. */
const MIN_MEMBER_BYTES = 2;

const ROLES: readonly Role[] = ['voter', 'standby', 'spare'];
const ROLE_CODE: Readonly<Record<Role, number>> = { voter: 0, standby: 1, spare: 2 };

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function checkId(id: number, what: string): void {
  assert(Number.isSafeInteger(id) && id >= 1, () => `${what} must be a node id >= 1, got ${id}`);
}

function writeEntries(w: ByteWriter, entries: readonly Entry[]): void {
  w.varint(entries.length);
  for (const entry of entries) {
    assert(
      entry.type === EntryType.Normal || entry.type === EntryType.ConfChange,
      () => `bad entry type ${entry.type}`,
    );
    assert(entry.data instanceof Uint8Array, 'entry data is bytes');
    w.varint(entry.term);
    w.varint(entry.index);
    w.u8(entry.type);
    w.varint(entry.data.length);
    w.bytes(entry.data);
  }
}

function writeSnapshot(w: ByteWriter, meta: SnapshotMeta): void {
  w.varint(meta.index);
  w.varint(meta.term);
  w.varint(meta.conf.members.length);
  for (const member of meta.conf.members) {
    checkId(member.id, 'member id');
    const role = ROLE_CODE[member.role];
    assert(role !== undefined, () => `bad role ${String(member.role)}`);
    w.varint(member.id);
    w.u8(role);
  }
}

/** Append one message to `w`. Invalid messages are programmer errors (assertions). */
export function writeMessage(w: ByteWriter, m: Message): void {
  assert(
    Number.isInteger(m.type) && m.type >= MIN_MESSAGE_TYPE && m.type <= MAX_MESSAGE_TYPE,
    () => `bad message type ${m.type}`,
  );
  checkId(m.from, 'from');
  checkId(m.to, 'to');
  let mask = 0;
  if (m.logTerm !== undefined) mask |= FIELD.logTerm;
  if (m.index !== undefined) mask |= FIELD.index;
  if (m.entries !== undefined) mask |= FIELD.entries;
  if (m.commit !== undefined) mask |= FIELD.commit;
  if (m.reject !== undefined) mask |= FIELD.reject | (m.reject ? FIELD.rejectValue : 0);
  if (m.rejectHint !== undefined) mask |= FIELD.rejectHint;
  if (m.snapshot !== undefined) mask |= FIELD.snapshot;
  if (m.chunk !== undefined) mask |= FIELD.chunk;
  if (m.offset !== undefined) mask |= FIELD.offset;
  if (m.totalBytes !== undefined) mask |= FIELD.totalBytes;
  if (m.readSeq !== undefined) mask |= FIELD.readSeq;
  if (m.context !== undefined) mask |= FIELD.context;
  if (m.transfer !== undefined) mask |= FIELD.transfer | (m.transfer ? FIELD.transferValue : 0);
  if (m.target !== undefined) mask |= FIELD.target;
  w.u8(m.type);
  w.u16(mask);
  w.varint(m.from);
  w.varint(m.to);
  w.varint(m.term);
  if (m.logTerm !== undefined) w.varint(m.logTerm);
  if (m.index !== undefined) w.varint(m.index);
  if (m.entries !== undefined) writeEntries(w, m.entries);
  if (m.commit !== undefined) w.varint(m.commit);
  if (m.rejectHint !== undefined) w.varint(m.rejectHint);
  if (m.snapshot !== undefined) writeSnapshot(w, m.snapshot);
  if (m.chunk !== undefined) {
    assert(m.chunk instanceof Uint8Array, 'chunk is bytes');
    w.varint(m.chunk.length);
    w.bytes(m.chunk);
  }
  if (m.offset !== undefined) w.varint(m.offset);
  if (m.totalBytes !== undefined) w.varint(m.totalBytes);
  if (m.readSeq !== undefined) w.varint(m.readSeq);
  if (m.context !== undefined) w.varint(m.context);
  if (m.target !== undefined) {
    checkId(m.target, 'target');
    w.varint(m.target);
  }
}

function readId(r: ByteReader, what: string): number {
  const id = r.varint(what);
  if (id < 1) throw badFrame(`${what} must be a node id >= 1`);
  return id;
}

function readEntries(r: ByteReader): Entry[] {
  const count = r.varint('entry count');
  if (count > r.remaining / MIN_ENTRY_BYTES) throw badFrame(`entry count ${count} exceeds the frame`);
  const entries: Entry[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const term = r.varint('entry term');
    const index = r.varint('entry index');
    const type = r.u8('entry type');
    if (type !== EntryType.Normal && type !== EntryType.ConfChange) throw badFrame(`bad entry type ${type}`);
    const data = r.lengthPrefixed('entry data');
    entries[i] = { term, index, type, data };
  }
  return entries;
}

function readSnapshot(r: ByteReader): SnapshotMeta {
  const index = r.varint('snapshot index');
  const term = r.varint('snapshot term');
  const count = r.varint('member count');
  if (count > r.remaining / MIN_MEMBER_BYTES) throw badFrame(`member count ${count} exceeds the frame`);
  const members: Member[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const id = readId(r, 'member id');
    const role = ROLES[r.u8('member role')];
    if (role === undefined) throw badFrame('bad member role');
    members[i] = { id, role };
  }
  return { index, term, conf: { members } };
}

/** Read one message from `r`; throws MK_BAD_FRAME on anything malformed. */
export function readMessage(r: ByteReader): Message {
  const type = r.u8('message type');
  if (type < MIN_MESSAGE_TYPE || type > MAX_MESSAGE_TYPE) throw badFrame(`bad message type ${type}`);
  const mask = r.u16('presence mask');
  if (mask & FIELD.rejectValue && !(mask & FIELD.reject)) throw badFrame('reject value without reject');
  if (mask & FIELD.transferValue && !(mask & FIELD.transfer))
    throw badFrame('transfer value without transfer');
  const m: Mutable<Message> = {
    type: type as MessageType,
    from: readId(r, 'from'),
    to: readId(r, 'to'),
    term: r.varint('term'),
  };
  if (mask & FIELD.logTerm) m.logTerm = r.varint('logTerm');
  if (mask & FIELD.index) m.index = r.varint('index');
  if (mask & FIELD.entries) m.entries = readEntries(r);
  if (mask & FIELD.commit) m.commit = r.varint('commit');
  if (mask & FIELD.reject) m.reject = (mask & FIELD.rejectValue) !== 0;
  if (mask & FIELD.rejectHint) m.rejectHint = r.varint('rejectHint');
  if (mask & FIELD.snapshot) m.snapshot = readSnapshot(r);
  if (mask & FIELD.chunk) m.chunk = r.lengthPrefixed('chunk');
  if (mask & FIELD.offset) m.offset = r.varint('offset');
  if (mask & FIELD.totalBytes) m.totalBytes = r.varint('totalBytes');
  if (mask & FIELD.readSeq) m.readSeq = r.varint('readSeq');
  if (mask & FIELD.context) m.context = r.varint('context');
  if (mask & FIELD.transfer) m.transfer = (mask & FIELD.transferValue) !== 0;
  if (mask & FIELD.target) m.target = readId(r, 'target');
  return m;
}

export function encodeMessage(m: Message): Uint8Array {
  const w = new ByteWriter();
  writeMessage(w, m);
  return w.finish();
}

export function decodeMessage(buf: Uint8Array): Message {
  const r = frameReader(buf);
  const m = readMessage(r);
  r.expectEnd('message');
  return m;
}

export function encodeBatch(messages: readonly Message[]): Uint8Array {
  const w = new ByteWriter();
  w.varint(messages.length);
  for (const m of messages) writeMessage(w, m);
  return w.finish();
}

/** All messages of a batch, or MK_BAD_FRAME: a batch is never delivered in part. */
export function decodeBatch(buf: Uint8Array): Message[] {
  return readBatch(frameReader(buf));
}

export function readBatch(r: ByteReader): Message[] {
  const count = r.varint('batch count');
  if (count > r.remaining / MIN_MESSAGE_BYTES) throw badFrame(`batch count ${count} exceeds the frame`);
  const messages: Message[] = new Array(count);
  for (let i = 0; i < count; i++) messages[i] = readMessage(r);
  r.expectEnd('batch');
  return messages;
}
