/**
 * Direct protobuf encoders for the responses that carry key-values in bulk or on every write:
 * RangeResponse (a page of a list is hundreds of key-values) and the WatchResponse of events. The
 * generic path (convert.ts's wire objects, then the codec in protobuf/) builds an intermediate
 * object per key-value; encoding from the state machine's types straight into one buffer does not.
 *
 * The field numbers are those of proto/rpc.proto (ResponseHeader, RangeResponse, WatchResponse)
 * and proto/kv.proto (KeyValue, Event). Zero and empty fields are left out, as Go's encoder does (proto3
 * reads a missing field as its zero value).
 */
import type { KeyValue, RangeResponse, WatchEvent } from '../state/types.js';
import type { EtcdHeaderInfo } from './backend.js';

const WIRE_VARINT = 0;
const WIRE_BYTES = 2;
const tag = (field: number, wire: number) => (field << 3) | wire;

// ResponseHeader
const H_CLUSTER_ID = tag(1, WIRE_VARINT);
const H_MEMBER_ID = tag(2, WIRE_VARINT);
const H_REVISION = tag(3, WIRE_VARINT);
const H_RAFT_TERM = tag(4, WIRE_VARINT);
// KeyValue
const KV_KEY = tag(1, WIRE_BYTES);
const KV_CREATE = tag(2, WIRE_VARINT);
const KV_MOD = tag(3, WIRE_VARINT);
const KV_VERSION = tag(4, WIRE_VARINT);
const KV_VALUE = tag(5, WIRE_BYTES);
const KV_LEASE = tag(6, WIRE_VARINT);
// RangeResponse
const R_HEADER = tag(1, WIRE_BYTES);
const R_KVS = tag(2, WIRE_BYTES);
const R_MORE = tag(3, WIRE_VARINT);
const R_COUNT = tag(4, WIRE_VARINT);
// Event
const E_TYPE = tag(1, WIRE_VARINT);
const E_KV = tag(2, WIRE_BYTES);
const E_PREV_KV = tag(3, WIRE_BYTES);
const EVENT_DELETE = 1;
// WatchResponse
const W_HEADER = tag(1, WIRE_BYTES);
const W_WATCH_ID = tag(2, WIRE_VARINT);
const W_FRAGMENT = tag(7, WIRE_VARINT);
const W_EVENTS = tag(11, WIRE_BYTES);

const TWO_64 = 1n << 64n;

/** An int64/uint64 as the varint's unsigned 64-bit value (negative: two's complement, as protobuf). */
function u64(value: number | bigint): bigint {
  const v = typeof value === 'bigint' ? value : BigInt(value);
  return v < 0n ? v + TWO_64 : v;
}

/** Bytes of the varint of a non-negative safe integer. */
function numberSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function bigSize(n: bigint): number {
  let size = 1;
  while (n >= 128n) {
    n >>= 7n;
    size++;
  }
  return size;
}

/** Size of an int64 field's varint (numbers in the state machine are safe integers). */
function intSize(n: number): number {
  return n >= 0 ? numberSize(n) : 10;
}

/**
 * Not src/lib/bytes.ts's ByteWriter, on purpose: protobuf varints are 64-bit (bigint ids, negative
 * int64 in ten bytes), and this writer fills a buffer sized exactly in advance, with no growth or
 * range checks per byte, on the hottest responses of the API (`npm run bench -- codecs`).
 */
class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  number(n: number): void {
    if (n < 0) {
      this.big(u64(n));
      return;
    }
    while (n >= 128) {
      this.buf[this.pos++] = (n % 128) | 128;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  big(n: bigint): void {
    while (n >= 128n) {
      this.buf[this.pos++] = Number(n & 127n) | 128;
      n >>= 7n;
    }
    this.buf[this.pos++] = Number(n);
  }

  bytes(b: Uint8Array): void {
    this.number(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }
}

function kvBodySize(kv: KeyValue): number {
  let n = 0;
  if (kv.key.byteLength > 0) n += 1 + numberSize(kv.key.byteLength) + kv.key.byteLength;
  if (kv.createRevision !== 0) n += 1 + intSize(kv.createRevision);
  if (kv.modRevision !== 0) n += 1 + intSize(kv.modRevision);
  if (kv.version !== 0) n += 1 + intSize(kv.version);
  if (kv.value.byteLength > 0) n += 1 + numberSize(kv.value.byteLength) + kv.value.byteLength;
  if (kv.lease !== 0) n += 1 + intSize(kv.lease);
  return n;
}

function writeKvBody(w: Writer, kv: KeyValue): void {
  if (kv.key.byteLength > 0) {
    w.byte(KV_KEY);
    w.bytes(kv.key);
  }
  if (kv.createRevision !== 0) {
    w.byte(KV_CREATE);
    w.number(kv.createRevision);
  }
  if (kv.modRevision !== 0) {
    w.byte(KV_MOD);
    w.number(kv.modRevision);
  }
  if (kv.version !== 0) {
    w.byte(KV_VERSION);
    w.number(kv.version);
  }
  if (kv.value.byteLength > 0) {
    w.byte(KV_VALUE);
    w.bytes(kv.value);
  }
  if (kv.lease !== 0) {
    w.byte(KV_LEASE);
    w.number(kv.lease);
  }
}

interface HeaderFields {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly revision: number;
  readonly raftTerm: number;
}

function headerBodySize(h: HeaderFields): number {
  let n = 0;
  if (h.clusterId !== 0n) n += 1 + bigSize(u64(h.clusterId));
  if (h.memberId !== 0n) n += 1 + bigSize(u64(h.memberId));
  if (h.revision !== 0) n += 1 + intSize(h.revision);
  if (h.raftTerm !== 0) n += 1 + intSize(h.raftTerm);
  return n;
}

function writeHeaderBody(w: Writer, h: HeaderFields): void {
  if (h.clusterId !== 0n) {
    w.byte(H_CLUSTER_ID);
    w.big(u64(h.clusterId));
  }
  if (h.memberId !== 0n) {
    w.byte(H_MEMBER_ID);
    w.big(u64(h.memberId));
  }
  if (h.revision !== 0) {
    w.byte(H_REVISION);
    w.number(h.revision);
  }
  if (h.raftTerm !== 0) {
    w.byte(H_RAFT_TERM);
    w.number(h.raftTerm);
  }
}

/** The length-delimited field `fieldTag` holding a message of `size` bytes: its whole size. */
function nestedSize(size: number): number {
  return 1 + numberSize(size) + size;
}

function eventBodySize(ev: WatchEvent, withPrev: boolean, kvSize: number, prevSize: number): number {
  let n = ev.type === 'delete' ? 2 : 0;
  n += nestedSize(kvSize);
  if (withPrev && ev.prevKv) n += nestedSize(prevSize);
  return n;
}

/**
 * The WatchResponse of one watcher carrying `events` (all of one revision, or a replayed run),
 * header at `revision`; `fragment` marks all but the last part of a fragmented response.
 */
export function encodeWatchEvents(
  h: EtcdHeaderInfo,
  revision: number,
  watchId: string,
  events: readonly WatchEvent[],
  withPrev: boolean,
  fragment: boolean,
): Buffer {
  const header: HeaderFields = {
    clusterId: h.clusterId,
    memberId: h.memberId,
    revision,
    raftTerm: h.raftTerm,
  };
  const headerSize = headerBodySize(header);
  const id = u64(BigInt(watchId));
  let size = nestedSize(headerSize);
  if (id !== 0n) size += 1 + bigSize(id);
  if (fragment) size += 2;
  // Per event: its kv's size, its prev_kv's size (0 if none) and its own body size.
  const sizes = new Array<number>(events.length * 3);
  for (let i = 0; i < events.length; i++) {
    const ev = events[i]!;
    const kvSize = kvBodySize(ev.kv);
    const prevSize = withPrev && ev.prevKv ? kvBodySize(ev.prevKv) : 0;
    const body = eventBodySize(ev, withPrev, kvSize, prevSize);
    sizes[i * 3] = kvSize;
    sizes[i * 3 + 1] = prevSize;
    sizes[i * 3 + 2] = body;
    size += nestedSize(body);
  }

  const w = new Writer(Buffer.allocUnsafe(size));
  w.byte(W_HEADER);
  w.number(headerSize);
  writeHeaderBody(w, header);
  if (id !== 0n) {
    w.byte(W_WATCH_ID);
    w.big(id);
  }
  if (fragment) {
    w.byte(W_FRAGMENT);
    w.byte(1);
  }
  for (let i = 0; i < events.length; i++) {
    const ev = events[i]!;
    w.byte(W_EVENTS);
    w.number(sizes[i * 3 + 2]!);
    if (ev.type === 'delete') {
      w.byte(E_TYPE);
      w.byte(EVENT_DELETE);
    }
    // kv is always present (even if every field is empty): clients read event.kv.
    w.byte(E_KV);
    w.number(sizes[i * 3]!);
    writeKvBody(w, ev.kv);
    if (withPrev && ev.prevKv) {
      w.byte(E_PREV_KV);
      w.number(sizes[i * 3 + 1]!);
      writeKvBody(w, ev.prevKv);
    }
  }
  if (w.pos !== size) throw new Error(`WatchResponse encoded to ${w.pos} bytes, sized ${size}`);
  return w.buf;
}

/** The encoded RangeResponse etcd would send for `r`, with the header of `h` at r's revision. */
export function encodeRangeResponse(h: EtcdHeaderInfo, r: RangeResponse): Buffer {
  const header: HeaderFields = {
    clusterId: h.clusterId,
    memberId: h.memberId,
    revision: r.revision,
    raftTerm: h.raftTerm,
  };
  const headerSize = headerBodySize(header);
  let size = 1 + numberSize(headerSize) + headerSize;
  const kvSizes = new Array<number>(r.kvs.length);
  for (let i = 0; i < r.kvs.length; i++) {
    const s = kvBodySize(r.kvs[i]!);
    kvSizes[i] = s;
    size += 1 + numberSize(s) + s;
  }
  if (r.more) size += 2;
  if (r.count !== 0) size += 1 + intSize(r.count);

  const w = new Writer(Buffer.allocUnsafe(size));
  w.byte(R_HEADER);
  w.number(headerSize);
  writeHeaderBody(w, header);
  for (let i = 0; i < r.kvs.length; i++) {
    w.byte(R_KVS);
    w.number(kvSizes[i]!);
    writeKvBody(w, r.kvs[i]!);
  }
  if (r.more) {
    w.byte(R_MORE);
    w.byte(1);
  }
  if (r.count !== 0) {
    w.byte(R_COUNT);
    w.number(r.count);
  }
  if (w.pos !== size) throw new Error(`RangeResponse encoded to ${w.pos} bytes, sized ${size}`);
  return w.buf;
}
