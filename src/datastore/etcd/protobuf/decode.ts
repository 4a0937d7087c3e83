/**
 * Decoding of protobuf bytes into the objects @grpc/proto-loader gives handlers (see proto.ts for
 * its options): every field present with its default, int64s as decimal strings, bytes as Buffers
 * (views of the input, as protobufjs gives), enums as numbers, the oneof's name beside its member.
 *
 * Bad input never loops and never allocates more than the input justifies: every read is checked
 * against the end of the enclosing message, lengths against what is left, varints stop at ten
 * bytes, and messages and groups nest at most MAX_MESSAGE_DEPTH deep. Whatever is wrong throws
 * MicroK8sError(PROTOBUF_ERROR_CODE) naming the message type and the byte offset.
 *
 * Where protobufjs differs from the protobuf spec on valid input, we follow protobufjs so that the
 * handlers see exactly what they saw before: a repeated message field or a sub-message given twice
 * keeps the last one (no merge), and every oneof member on the wire stays set (the oneof's name is
 * the last of them in field number order). A known field with the wrong wire type is skipped as an
 * unknown field (protobufjs would misread it).
 */
import { MicroK8sError } from '../../../lib/errors.js';
import {
  type CompiledField,
  type CompiledType,
  Kind,
  WIRE_END_GROUP,
  WIRE_FIXED32,
  WIRE_FIXED64,
  WIRE_LENGTH,
  WIRE_START_GROUP,
  WIRE_VARINT,
} from './compile.js';
import { halves, signedDecimal, unsignedDecimal } from './int64.js';

/**
 * The error code of malformed protobuf input. src/lib/errors.ts has no MK_BAD_REQUEST; a malformed
 * request is an invalid argument, and errors.ts maps this code to gRPC INVALID_ARGUMENT.
 */
export const PROTOBUF_ERROR_CODE = 'MK_INVALID_ARGUMENT';

/** Deepest nesting of messages (and groups) accepted; a nested txn costs two levels per txn. */
export const MAX_MESSAGE_DEPTH = 64;

/** A varint is at most this many bytes (64 bits, 7 per byte). */
const MAX_VARINT_BYTES = 10;

class Reader {
  pos = 0;
  /** End of the message being read: reads never cross it. */
  end: number;
  constructor(
    readonly buf: Buffer,
    /** The top-level type, for error messages. */
    readonly typeName: string,
  ) {
    this.end = buf.length;
  }
}

function malformed(r: Reader, detail: string): never {
  throw new MicroK8sError(
    PROTOBUF_ERROR_CODE,
    `malformed protobuf message ${r.typeName}: ${detail} at byte ${r.pos}`,
    { type: r.typeName, offset: r.pos },
  );
}

/** A varint's low 32 bits, unsigned (higher bits are read and dropped). */
function varint32(r: Reader): number {
  const buf = r.buf;
  const end = r.end;
  let pos = r.pos;
  if (pos >= end) malformed(r, 'truncated varint');
  let b = buf[pos++]!;
  if (b < 128) {
    r.pos = pos;
    return b;
  }
  let v = b & 127;
  for (let shift = 7; shift < 28; shift += 7) {
    if (pos >= end) malformed(r, 'truncated varint');
    b = buf[pos++]!;
    v |= (b & 127) << shift;
    if (b < 128) {
      r.pos = pos;
      return v;
    }
  }
  if (pos >= end) malformed(r, 'truncated varint');
  b = buf[pos++]!;
  v = (v | ((b & 15) << 28)) >>> 0;
  for (let n = 5; b >= 128; n++) {
    if (n >= MAX_VARINT_BYTES) {
      r.pos = pos;
      malformed(r, 'varint longer than 10 bytes');
    }
    if (pos >= end) malformed(r, 'truncated varint');
    b = buf[pos++]!;
  }
  r.pos = pos;
  return v;
}

/** A varint into `halves` (bits past 64 dropped). */
function varint64(r: Reader): void {
  const buf = r.buf;
  const end = r.end;
  let pos = r.pos;
  let lo = 0;
  let hi = 0;
  let b = 128;
  // Bytes 0-3 fill lo's bits 0-27.
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= end) malformed(r, 'truncated varint');
    b = buf[pos++]!;
    lo |= (b & 127) << shift;
    if (b < 128) break;
  }
  if (b >= 128) {
    // Byte 4 completes lo and starts hi; bytes 5-9 fill the rest of hi.
    if (pos >= end) malformed(r, 'truncated varint');
    b = buf[pos++]!;
    lo |= (b & 15) << 28;
    hi = (b & 127) >> 4;
    for (let shift = 3; b >= 128; shift += 7) {
      if (shift > 31) {
        r.pos = pos;
        malformed(r, 'varint longer than 10 bytes');
      }
      if (pos >= end) malformed(r, 'truncated varint');
      b = buf[pos++]!;
      hi |= (b & 127) << shift;
    }
  }
  r.pos = pos;
  halves.lo = lo >>> 0;
  halves.hi = hi >>> 0;
}

/** A length prefix, checked against the bytes left in the enclosing message. */
function length(r: Reader): number {
  const at = r.pos;
  varint64(r);
  if (halves.hi !== 0 || halves.lo > r.end - r.pos) {
    r.pos = at;
    malformed(r, 'length past the end of the message');
  }
  return halves.lo;
}

function need(r: Reader, n: number): number {
  const at = r.pos;
  if (n > r.end - at) malformed(r, 'truncated fixed-size value');
  r.pos = at + n;
  return at;
}

/** Skip one value of wire type `wire` (an unknown field, or a known one of the wrong type). */
function skip(r: Reader, wire: number, number: number, depth: number): void {
  switch (wire) {
    case WIRE_VARINT:
      varint64(r);
      return;
    case WIRE_FIXED64:
      need(r, 8);
      return;
    case WIRE_LENGTH: {
      // Not `r.pos += length(r)`: that would add to r.pos as it was before the length was read.
      const n = length(r);
      r.pos += n;
      return;
    }
    case WIRE_FIXED32:
      need(r, 4);
      return;
    case WIRE_START_GROUP: {
      if (depth >= MAX_MESSAGE_DEPTH) malformed(r, `groups nested deeper than ${MAX_MESSAGE_DEPTH}`);
      for (;;) {
        const tag = varint32(r);
        const w = tag & 7;
        if (w === WIRE_END_GROUP) {
          if (tag >>> 3 !== number) malformed(r, 'mismatched end-group tag');
          return;
        }
        skip(r, w, tag >>> 3, depth + 1);
      }
    }
    case WIRE_END_GROUP:
      malformed(r, 'end-group tag without a start-group');
      break;
    default:
      malformed(r, `invalid wire type ${wire}`);
  }
}

/** One value of a field whose wire type has been checked (`depth`: of the enclosing message). */
function value(r: Reader, f: CompiledField, depth: number): unknown {
  switch (f.kind) {
    case Kind.int64:
      varint64(r);
      return signedDecimal(halves.lo, halves.hi);
    case Kind.uint64:
      varint64(r);
      return unsignedDecimal(halves.lo, halves.hi);
    case Kind.bool:
      // As protobufjs: only the low 32 bits are looked at.
      return varint32(r) !== 0;
    case Kind.enum:
    case Kind.int32:
      return varint32(r) | 0;
    case Kind.uint32:
      return varint32(r);
    case Kind.sint32: {
      const n = varint32(r);
      return (n >>> 1) ^ -(n & 1);
    }
    case Kind.sint64: {
      varint64(r);
      const { lo, hi } = halves;
      const mask = -(lo & 1);
      return signedDecimal((((lo >>> 1) | (hi << 31)) ^ mask) >>> 0, ((hi >>> 1) ^ mask) >>> 0);
    }
    case Kind.string: {
      const n = length(r);
      const at = r.pos;
      r.pos = at + n;
      return r.buf.toString('utf8', at, at + n);
    }
    case Kind.bytes: {
      const n = length(r);
      const at = r.pos;
      r.pos = at + n;
      return r.buf.subarray(at, at + n);
    }
    case Kind.message: {
      const n = length(r);
      const outer = r.end;
      r.end = r.pos + n;
      const m = message(r, f.type!, depth + 1);
      r.end = outer;
      return m;
    }
    case Kind.fixed32:
      return r.buf.readUInt32LE(need(r, 4));
    case Kind.sfixed32:
      return r.buf.readInt32LE(need(r, 4));
    case Kind.float:
      return r.buf.readFloatLE(need(r, 4));
    case Kind.double:
      return r.buf.readDoubleLE(need(r, 8));
    case Kind.fixed64:
    case Kind.sfixed64: {
      const at = need(r, 8);
      const lo = r.buf.readUInt32LE(at);
      const hi = r.buf.readUInt32LE(at + 4);
      return f.kind === Kind.fixed64 ? unsignedDecimal(lo, hi) : signedDecimal(lo, hi);
    }
    default:
      throw new Error(`protobuf decode: unhandled field kind ${f.kind}`);
  }
}

/** A packed run of a repeated numeric field, appended to `out`. */
function packed(r: Reader, f: CompiledField, out: unknown[], depth: number): void {
  const n = length(r);
  const outer = r.end;
  r.end = r.pos + n;
  while (r.pos < r.end) out.push(value(r, f, depth));
  r.end = outer;
}

/**
 * proto-loader's key order when oneof members were read: every member present, in field number
 * order, each oneof's name right after its first member, naming its last. Only rebuilt when more
 * than one member was read; with one, appending the name is already that order.
 */
function setOneofs(t: CompiledType, o: Record<string, unknown>, seen: number, last: CompiledField): void {
  if (seen === 1) {
    o[t.oneofs[last.oneofIndex]!] = last.name;
    return;
  }
  const values = new Map<string, unknown>();
  for (const members of t.oneofMembers) {
    for (const m of members) {
      if (Object.hasOwn(o, m.name)) {
        values.set(m.name, o[m.name]);
        delete o[m.name];
      }
    }
  }
  for (const f of t.encodeOrder) {
    if (f.oneofIndex < 0 || !values.has(f.name)) continue;
    o[f.name] = values.get(f.name);
    o[t.oneofs[f.oneofIndex]!] = f.name;
  }
}

/** The message of type `t` from r.pos to r.end; `depth` counts the enclosing messages. */
function message(r: Reader, t: CompiledType, depth: number): Record<string, unknown> {
  if (depth > MAX_MESSAGE_DEPTH) malformed(r, `messages nested deeper than ${MAX_MESSAGE_DEPTH}`);
  const o = t.create();
  const byNumber = t.byNumber;
  let oneofsSeen = 0;
  let lastOneof: CompiledField | undefined;
  while (r.pos < r.end) {
    const tag = varint32(r);
    const number = tag >>> 3;
    const wire = tag & 7;
    if (number === 0) malformed(r, 'field number 0');
    const f = byNumber[number];
    if (f === undefined) {
      if (wire === WIRE_END_GROUP) malformed(r, 'end-group tag without a start-group');
      skip(r, wire, number, depth);
    } else if (f.repeated) {
      const list = o[f.name] as unknown[];
      if (wire === f.wire) list.push(value(r, f, depth));
      else if (wire === WIRE_LENGTH && f.packable) packed(r, f, list, depth);
      else skip(r, wire, number, depth);
    } else if (wire === f.wire) {
      o[f.name] = value(r, f, depth);
      if (f.oneofIndex >= 0) {
        oneofsSeen++;
        lastOneof = f;
      }
    } else {
      skip(r, wire, number, depth);
    }
  }
  if (oneofsSeen > 0) setOneofs(t, o, oneofsSeen, lastOneof!);
  return o;
}

/** Decode a whole buffer as one message of type `t`. */
export function decodeMessage(t: CompiledType, input: Uint8Array): Record<string, unknown> {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  return message(new Reader(buf, t.name), t, 1);
}
