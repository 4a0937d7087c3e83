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
  /** The message being filled, once its prefix is known. */
  private body: Buffer | undefined;
  private bodyFill = 0;

  constructor(private readonly maxMessageBytes: number) {
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
        const n = Math.min(this.body.length - this.bodyFill, chunk.length - pos);
        chunk.copy(this.body, this.bodyFill, pos, pos + n);
        this.bodyFill += n;
        pos += n;
        if (this.bodyFill === this.body.length) {
          out.push(this.body);
          this.body = undefined;
          this.bodyFill = 0;
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
          this.body = Buffer.allocUnsafe(length);
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
      else this.body = Buffer.allocUnsafe(length);
    }
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
