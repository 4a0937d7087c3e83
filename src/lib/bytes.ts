/**
 * The byte writer and reader of our own binary formats (the transport's frames and messages, the
 * Raft log's commands): bytes, big-endian u16, and unsigned LEB128 varints of safe integers.
 * Terms, indexes, ids and lengths are small most of the time and may reach 2^53 - 1, which a
 * varint covers in at most 8 bytes without the precision traps of 64-bit integers in JavaScript.
 *
 * The reader is a trust boundary: every read is checked against the bytes that remain, varints
 * must be canonical (shortest form), and a failure is the error of the format being read (its
 * `fail`), so a decoder built on it never reads past its input.
 *
 * Not for protobuf: its varints are 64-bit (10 bytes, negatives in two's complement), and the
 * encoders in src/datastore/etcd (protobuf/encode.ts, wire.ts) are tuned for the API's hot paths.
 */
import { assert } from './assert.js';

/** 2^53 - 1 needs 53 bits = 8 groups of 7. */
const MAX_VARINT_BYTES = 8;
const INITIAL_WRITER_BYTES = 256;

/** The error a format's reader throws for malformed input, `offset` bytes in. */
export type ReadFailure = (message: string, offset: number) => Error;

/** Bytes a varint of `value` takes. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

export class ByteWriter {
  private buffer: Uint8Array;
  private length = 0;

  constructor(initialBytes = INITIAL_WRITER_BYTES) {
    this.buffer = new Uint8Array(Math.max(16, initialBytes));
  }

  get size(): number {
    return this.length;
  }

  private reserve(bytes: number): void {
    const needed = this.length + bytes;
    if (needed <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }

  u8(value: number): void {
    assert(Number.isInteger(value) && value >= 0 && value <= 0xff, () => `u8 out of range: ${value}`);
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  u16(value: number): void {
    assert(Number.isInteger(value) && value >= 0 && value <= 0xffff, () => `u16 out of range: ${value}`);
    this.reserve(2);
    this.buffer[this.length++] = value >>> 8;
    this.buffer[this.length++] = value & 0xff;
  }

  varint(value: number): void {
    assert(
      Number.isSafeInteger(value) && value >= 0,
      () => `varint needs a safe non-negative integer: ${value}`,
    );
    this.reserve(MAX_VARINT_BYTES);
    // Division instead of shifts: bit operators truncate to 32 bits.
    while (value >= 0x80) {
      this.buffer[this.length++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    this.buffer[this.length++] = value;
  }

  bytes(data: Uint8Array): void {
    this.reserve(data.length);
    this.buffer.set(data, this.length);
    this.length += data.length;
  }

  /** A varint length, then the bytes (what the reader's lengthPrefixed reads). */
  lengthPrefixed(data: Uint8Array): void {
    this.varint(data.length);
    this.bytes(data);
  }

  /** A copy of what was written, exactly sized (the writer may be reused or dropped). */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

export class ByteReader {
  private position: number;
  private readonly end: number;

  constructor(
    private readonly buffer: Uint8Array,
    private readonly failure: ReadFailure,
    start = 0,
    end = buffer.length,
  ) {
    assert(0 <= start && start <= end && end <= buffer.length, 'reader bounds inside the buffer');
    this.position = start;
    this.end = end;
  }

  get offset(): number {
    return this.position;
  }

  get remaining(): number {
    return this.end - this.position;
  }

  /** Throw the format's error for malformed input at the current offset. */
  fail(message: string): never {
    throw this.failure(message, this.position);
  }

  private need(bytes: number, what: string): void {
    if (bytes > this.remaining) this.fail(`truncated ${what}: needs ${bytes} bytes, ${this.remaining} left`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buffer[this.position++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const value = (this.buffer[this.position]! << 8) | this.buffer[this.position + 1]!;
    this.position += 2;
    return value;
  }

  /** A canonical (shortest-form) varint no larger than Number.MAX_SAFE_INTEGER. */
  varint(what: string): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const byte = this.u8(what);
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) this.fail(`non-canonical varint for ${what}`);
        if (value > Number.MAX_SAFE_INTEGER) this.fail(`${what} exceeds 2^53 - 1`);
        return value;
      }
      scale *= 128;
    }
    return this.fail(`varint for ${what} is longer than ${MAX_VARINT_BYTES} bytes`);
  }

  /** A count of elements that take at least `minBytes` each: bounded by the input before anything is allocated. */
  count(what: string, minBytes = 1): number {
    const n = this.varint(what);
    if (n > this.remaining / minBytes) this.fail(`${what} ${n} exceeds the input`);
    return n;
  }

  /**
   * `length` bytes, copied: a decoded entry may live on in the Raft log long after the frame
   * it came in, and a view would pin the whole (up to 16 MiB) frame. A plain Uint8Array even
   * when the input is a Buffer: callers compare and keep plain data.
   */
  bytes(length: number, what: string): Uint8Array {
    this.need(length, what);
    const copy = new Uint8Array(length);
    copy.set(this.buffer.subarray(this.position, this.position + length));
    this.position += length;
    return copy;
  }

  /** A varint length, then that many bytes. */
  lengthPrefixed(what: string): Uint8Array {
    return this.bytes(this.varint(`${what} length`), what);
  }

  /** Check that the input was consumed exactly: trailing bytes mean a malformed frame. */
  expectEnd(what: string): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} trailing bytes after ${what}`);
  }
}
