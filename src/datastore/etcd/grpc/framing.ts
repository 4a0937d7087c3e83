/**
 * gRPC message framing: each message is a 5-byte prefix (compressed flag, 4-byte big-endian
 * length) and the message bytes. HTTP/2 DATA frames cut the byte stream anywhere, so requests are
 * reassembled here; responses are framed in one buffer.
 */
import { assert } from '../../../lib/assert.js';
import { GrpcStatusError, Status } from './status.js';

export const MESSAGE_PREFIX_BYTES = 5;
/** The length field is 32 bits. */
export const MAX_FRAMED_MESSAGE_BYTES = 0xffff_ffff;

/**
 * Bytes of partly received request messages that one connection may hold, shared by its streams.
 * Messages are buffered as their bytes arrive (never at the size a prefix claims), and a
 * connection whose streams hold more than `limit` at once gets RESOURCE_EXHAUSTED on the stream
 * that crossed it: many streams each sending most of a large message cannot exhaust memory.
 */
export interface ReceiveBudget {
  used: number;
  readonly limit: number;
}

/** Raised for a message with the compressed flag set; the caller picks the status (see server). */
export class CompressedMessageError extends GrpcStatusError {}

/** `payload` with its prefix (never compressed: the server advertises no compression). */
export function frameMessage(payload: Uint8Array): Buffer {
  if (payload.byteLength > MAX_FRAMED_MESSAGE_BYTES) {
    throw new GrpcStatusError(Status.RESOURCE_EXHAUSTED, 'grpc: response message too large to frame');
  }
  const out = Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES + payload.byteLength);
  out[0] = 0;
  out.writeUInt32BE(payload.byteLength, 1);
  out.set(payload, MESSAGE_PREFIX_BYTES);
  return out;
}

/**
 * Incremental decoder of one request stream. A message's length is checked as soon as its prefix
 * is complete, before any of its bytes are kept, so an oversized message costs no memory.
 */
export class MessageDecoder {
  private readonly prefix = Buffer.alloc(MESSAGE_PREFIX_BYTES);
  private prefixFill = 0;
  /** The pieces of the message being filled (views of received chunks), once its prefix is known. */
  private body: Buffer[] | undefined;
  private bodyLength = 0;
  private bodyFill = 0;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly budget: ReceiveBudget = { used: 0, limit: Number.POSITIVE_INFINITY },
  ) {
    assert(
      Number.isInteger(maxMessageBytes) &&
        maxMessageBytes >= 0 &&
        maxMessageBytes <= MAX_FRAMED_MESSAGE_BYTES,
      `receive limit ${maxMessageBytes} out of range`,
    );
  }

  /** Part of a message is buffered (a stream that ends now is truncated). */
  get partial(): boolean {
    return this.prefixFill > 0 || this.body !== undefined;
  }

  /**
   * The messages completed by `chunk`, appended to `out`. Complete messages inside one chunk are
   * views of it (chunks handed to 'data' listeners belong to the listener), split ones are copied.
   * Throws GrpcStatusError (RESOURCE_EXHAUSTED, INTERNAL) or CompressedMessageError.
   */
  push(chunk: Buffer, out: Buffer[]): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.body !== undefined) {
        const n = Math.min(this.bodyLength - this.bodyFill, chunk.length - pos);
        this.hold(n);
        this.body.push(chunk.subarray(pos, pos + n));
        this.bodyFill += n;
        pos += n;
        if (this.bodyFill === this.bodyLength) {
          out.push(Buffer.concat(this.body, this.bodyLength));
          this.release();
        }
        continue;
      }
      if (this.prefixFill === 0 && chunk.length - pos >= MESSAGE_PREFIX_BYTES) {
        // Fast path: the prefix is whole in this chunk.
        const length = this.checkPrefix(chunk[pos]!, chunk.readUInt32BE(pos + 1));
        pos += MESSAGE_PREFIX_BYTES;
        if (chunk.length - pos >= length) {
          out.push(chunk.subarray(pos, pos + length));
          pos += length;
        } else {
          this.startBody(length);
        }
        continue;
      }
      const n = Math.min(MESSAGE_PREFIX_BYTES - this.prefixFill, chunk.length - pos);
      chunk.copy(this.prefix, this.prefixFill, pos, pos + n);
      this.prefixFill += n;
      pos += n;
      if (this.prefixFill < MESSAGE_PREFIX_BYTES) continue;
      this.prefixFill = 0;
      const length = this.checkPrefix(this.prefix[0]!, this.prefix.readUInt32BE(1));
      if (length === 0) out.push(Buffer.alloc(0));
      else this.startBody(length);
    }
  }

  /** Give back what a partly received message holds of the budget (the call is over). */
  release(): void {
    this.budget.used -= this.bodyFill;
    this.body = undefined;
    this.bodyLength = 0;
    this.bodyFill = 0;
  }

  private startBody(length: number): void {
    this.body = [];
    this.bodyLength = length;
    this.bodyFill = 0;
  }

  private hold(bytes: number): void {
    if (this.budget.used + bytes > this.budget.limit) {
      throw new GrpcStatusError(
        Status.RESOURCE_EXHAUSTED,
        `grpc: the connection's partly received requests would exceed ${this.budget.limit} bytes`,
      );
    }
    this.budget.used += bytes;
  }

  private checkPrefix(flag: number, length: number): number {
    if (flag === 1) {
      throw new CompressedMessageError(
        Status.INTERNAL,
        'grpc: compressed message, but compression is not supported',
      );
    }
    if (flag !== 0) {
      throw new GrpcStatusError(Status.INTERNAL, `grpc: invalid compressed flag ${flag} in message prefix`);
    }
    if (length > this.maxMessageBytes) {
      throw new GrpcStatusError(
        Status.RESOURCE_EXHAUSTED,
        `grpc: received message larger than max (${length} vs. ${this.maxMessageBytes})`,
      );
    }
    return length;
  }
}
