/**
 * Encoding of handler responses (and of anything protobufjs's fromObject accepted) into protobuf.
 *
 * Values accepted per field, as before: int64/uint64 as numbers, decimal strings, bigints or
 * Long-like objects (negative: two's complement); bool via Boolean(); string via String(); bytes
 * as Buffer / Uint8Array / an array of byte values / a base64 string; enums as numbers or value
 * names; messages as objects; repeated fields as arrays. null and undefined are absent. As proto3
 * does, zero and empty values are not written, except for a oneof member (its presence says which
 * member is set) and a message field that is present (an empty message still says "set").
 *
 * One pass over the object into a reusable scratch buffer: a nested message gets one byte for its
 * length, and the rare message of 128 bytes or more is shifted to make room for a longer one. The
 * result is copied out, since grpc-js keeps it after the call returns.
 *
 * A value of a type no field accepts is a bug in the handler: it throws a TypeError naming the
 * field, as protobufjs did.
 */
import { type CompiledField, type CompiledType, Kind } from './compile.js';
import { MAX_MESSAGE_DEPTH } from './decode.js';
import { halves, split } from './int64.js';

/** The scratch buffer's size, and what it shrinks back to after a larger message. */
const SCRATCH_BYTES = 64 * 1024;
/** A scratch buffer grown past this is dropped after use, so one huge response is not kept. */
const MAX_KEPT_SCRATCH_BYTES = 1024 * 1024;
/** Strings this short take at most 127 UTF-8 bytes: their length fits in one byte. */
const SHORT_STRING_CHARS = 42;

// Not src/lib/bytes.ts's ByteWriter, on purpose: protobuf's varints are 64-bit (written from two
// 32-bit halves here), and a module-level scratch buffer with lengths patched in place is what
// keeps this faster than protobufjs on every response (`npm run bench -- codecs`).
let scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
let pos = 0;

function ensure(n: number): void {
  if (pos + n <= scratch.length) return;
  let size = scratch.length * 2;
  while (size < pos + n) size *= 2;
  const bigger = Buffer.allocUnsafe(size);
  scratch.copy(bigger, 0, 0, pos);
  scratch = bigger;
}

function invalid(t: CompiledType, f: CompiledField, v: unknown, expected: string): never {
  const shown = typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : typeof v;
  throw new TypeError(`${t.name}.${f.name}: ${expected} expected, got ${shown}`);
}

/** A varint of an unsigned 32-bit value (room for 5 bytes must be ensured). */
function varint32(n: number): void {
  while (n > 127) {
    scratch[pos++] = (n & 127) | 128;
    n >>>= 7;
  }
  scratch[pos++] = n;
}

/** The varint of `halves` (room for 10 bytes must be ensured). */
function varint64(): void {
  let { lo, hi } = halves;
  while (hi !== 0 || lo > 127) {
    scratch[pos++] = (lo & 127) | 128;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  scratch[pos++] = lo;
}

function varintSize(n: number): number {
  let size = 1;
  while (n > 127) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/**
 * Close a length-delimited value whose body started at `start`, one byte after the byte reserved
 * for its length: write the length there, shifting the body if the length needs more bytes.
 */
function closeLength(start: number): void {
  const n = pos - start;
  if (n < 128) {
    scratch[start - 1] = n;
    return;
  }
  const extra = varintSize(n) - 1;
  ensure(extra);
  scratch.copyWithin(start + extra, start, pos);
  const end = pos + extra;
  pos = start - 1;
  varint32(n);
  pos = end;
}

function bytesOf(t: CompiledType, f: CompiledField, v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return Buffer.from(v, 'base64');
  if (Array.isArray(v)) return Buffer.from(v as number[]);
  return invalid(t, f, v, 'bytes (Buffer, Uint8Array, byte array or base64 string)');
}

function enumNumber(t: CompiledType, f: CompiledField, v: unknown): number {
  if (typeof v === 'number') return v | 0;
  if (typeof v === 'string') {
    const n = f.enumValues!.get(v);
    if (n !== undefined) return n;
  }
  return invalid(t, f, v, 'an enum number or value name');
}

/** An int32 as protobuf writes it: negative values sign-extended to 64 bits (10 bytes). */
function int32(n: number): void {
  if (n >= 0) varint32(n);
  else {
    halves.lo = n >>> 0;
    halves.hi = 0xffffffff;
    varint64();
  }
}

/** Sets `halves` from an int64 field's value; false when it is zero. */
function int64Halves(t: CompiledType, f: CompiledField, v: unknown): boolean {
  if (!split(v)) invalid(t, f, v, 'an integer (number, decimal string, bigint)');
  return halves.lo !== 0 || halves.hi !== 0;
}

function zigzag64(): void {
  const { lo, hi } = halves;
  const sign = hi >> 31;
  halves.lo = ((lo << 1) ^ sign) >>> 0;
  halves.hi = (((hi << 1) | (lo >>> 31)) ^ sign) >>> 0;
}

/**
 * One value of a non-message field, tag included when `tag` >= 0 (packed runs have none). With
 * `force` false a zero or empty value is not written.
 */
function scalar(t: CompiledType, f: CompiledField, v: unknown, tag: number, force: boolean): void {
  ensure(20);
  const at = pos;
  if (tag >= 0) varint32(tag);
  switch (f.kind) {
    case Kind.int64:
    case Kind.uint64:
      // The common case, a small non-negative number, without the split.
      if (typeof v === 'number' && v >= 0 && v <= 0x7fffffff && Number.isInteger(v)) {
        if (v === 0 && !force) break;
        varint32(v);
        return;
      }
      if (!int64Halves(t, f, v) && !force) break;
      varint64();
      return;
    case Kind.sint64:
      if (!int64Halves(t, f, v) && !force) break;
      zigzag64();
      varint64();
      return;
    case Kind.fixed64:
    case Kind.sfixed64:
      if (!int64Halves(t, f, v) && !force) break;
      scratch.writeUInt32LE(halves.lo, pos);
      scratch.writeUInt32LE(halves.hi, pos + 4);
      pos += 8;
      return;
    case Kind.bool: {
      if (!v && !force) break;
      scratch[pos++] = v ? 1 : 0;
      return;
    }
    case Kind.enum: {
      const n = enumNumber(t, f, v);
      if (n === 0 && !force) break;
      int32(n);
      return;
    }
    case Kind.int32: {
      const n = (v as number) | 0;
      if (n === 0 && !force) break;
      int32(n);
      return;
    }
    case Kind.uint32: {
      const n = typeof v === 'bigint' ? Number(BigInt.asUintN(32, v)) : (v as number) >>> 0;
      if (n === 0 && !force) break;
      varint32(n);
      return;
    }
    case Kind.sint32: {
      const n = (v as number) | 0;
      if (n === 0 && !force) break;
      varint32(((n << 1) ^ (n >> 31)) >>> 0);
      return;
    }
    case Kind.fixed32:
    case Kind.sfixed32: {
      const n = (v as number) >>> 0;
      if (n === 0 && !force) break;
      scratch.writeUInt32LE(n, pos);
      pos += 4;
      return;
    }
    case Kind.float:
    case Kind.double: {
      const n = Number(v);
      if (n === 0 && !Object.is(n, -0) && !force) break;
      if (f.kind === Kind.float) {
        scratch.writeFloatLE(n, pos);
        pos += 4;
      } else {
        scratch.writeDoubleLE(n, pos);
        pos += 8;
      }
      return;
    }
    case Kind.string: {
      const s = typeof v === 'string' ? v : String(v);
      if (s.length === 0 && !force) break;
      if (s.length <= SHORT_STRING_CHARS) {
        ensure(1 + s.length * 3);
        const start = pos + 1;
        pos = start + scratch.write(s, start, 'utf8');
        scratch[start - 1] = pos - start;
      } else {
        const n = Buffer.byteLength(s, 'utf8');
        ensure(5 + n);
        varint32(n);
        pos += scratch.write(s, pos, 'utf8');
      }
      return;
    }
    case Kind.bytes: {
      const b = bytesOf(t, f, v);
      if (b.byteLength === 0 && !force) break;
      ensure(5 + b.byteLength);
      varint32(b.byteLength);
      scratch.set(b, pos);
      pos += b.byteLength;
      return;
    }
    default:
      throw new Error(`protobuf encode: unhandled field kind ${f.kind} of ${t.name}.${f.name}`);
  }
  // A zero value that is not written: take the tag back.
  pos = at;
}

function nested(t: CompiledType, f: CompiledField, v: unknown, depth: number): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    invalid(t, f, v, 'an object');
  }
  ensure(6);
  varint32(f.tag);
  pos++;
  const start = pos;
  body(f.type!, v as Record<string, unknown>, depth + 1);
  closeLength(start);
}

function body(t: CompiledType, obj: Record<string, unknown>, depth: number): void {
  if (depth > MAX_MESSAGE_DEPTH) {
    throw new TypeError(`${t.name}: objects nested deeper than ${MAX_MESSAGE_DEPTH} (a cycle?)`);
  }
  const fields = t.encodeOrder;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const v = obj[f.name];
    if (v === undefined || v === null) continue;
    if (!f.repeated) {
      if (f.kind === Kind.message) nested(t, f, v, depth);
      else scalar(t, f, v, f.tag, f.oneofIndex >= 0);
      continue;
    }
    if (!Array.isArray(v)) invalid(t, f, v, 'an array');
    if (v.length === 0) continue;
    if (f.packable) {
      ensure(6);
      varint32(f.packedTag);
      pos++;
      const start = pos;
      for (let j = 0; j < v.length; j++) scalar(t, f, v[j], -1, true);
      closeLength(start);
    } else if (f.kind === Kind.message) {
      for (let j = 0; j < v.length; j++) nested(t, f, v[j], depth);
    } else {
      for (let j = 0; j < v.length; j++) scalar(t, f, v[j], f.tag, true);
    }
  }
}

/** Encode `obj` as a message of type `t`. */
export function encodeMessage(t: CompiledType, obj: object): Buffer {
  if (typeof obj !== 'object' || obj === null) throw new TypeError(`${t.name}: an object expected`);
  // Set here, not in a finally: a throw leaves `pos` behind, and the next call starts at 0 anyway.
  pos = 0;
  body(t, obj as Record<string, unknown>, 1);
  const out = Buffer.allocUnsafe(pos);
  scratch.copy(out, 0, 0, pos);
  if (scratch.length > MAX_KEPT_SCRATCH_BYTES) scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  return out;
}
