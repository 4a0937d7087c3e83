/**
 * Framing on a peer connection: `[u32 big-endian payload length][payload]`, payload =
 * `[u8 kind][body]`.
 *
 *   kind 1, hello: u8 protocol version, varint length + UTF-8 cluster id, varint node id.
 *                  The first frame on every connection, and only the first.
 *   kind 2, batch: a codec batch (varint count + messages).
 *
 * Connections are one-way (dialer writes, listener reads), so there is no reply frame: a
 * listener that refuses a hello simply closes the connection.
 */
import { isIP } from 'node:net';
import { assert } from '../../lib/assert.js';
import { type ByteReader, ByteWriter, varintSize } from '../../lib/bytes.js';
import type { NodeId } from '../raft/types.js';
import { badFrame } from './bad-frame.js';

export const FRAME_HEADER_BYTES = 4;
/**
 * Hello and batch frames flow from the dialer to the listener. The one exception is a reject
 * frame: the listener writes it once, just before it closes a connection it refuses, so that the
 * refused node can log why (another cluster, a wrong identity) instead of only seeing a close.
 */
export const FrameKind = { Hello: 1, Batch: 2, Reject: 3 } as const;
/** A reject reason is a sentence, not a document. */
export const MAX_REJECT_REASON_BYTES = 400;
export const PROTOCOL_VERSION = 1;
/** Cluster ids are names, not documents. */
export const MAX_CLUSTER_ID_BYTES = 128;
/**
 * Until the hello is accepted a connection may only send a frame this large, so a peer that
 * has a cluster certificate but not yet an identity cannot make us buffer a 16 MiB frame.
 */
export const MAX_HELLO_FRAME_BYTES = 512;

export interface Hello {
  readonly version: number;
  readonly clusterId: string;
  readonly nodeId: NodeId;
  /**
   * Where the dialer listens for peers, when it can say: a node whose address changed announces
   * it with every connection, so its peers (which authenticate it by certificate) re-address it
   * at once instead of dialing the old address until the member table catches up.
   */
  readonly address?: { readonly host: string; readonly port: number };
}

const MAX_HOST_BYTES = 255;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The complete hello frame, length prefix included. */
export function encodeHelloFrame(hello: Hello): Buffer {
  const id = utf8.encode(hello.clusterId);
  assert(id.length >= 1 && id.length <= MAX_CLUSTER_ID_BYTES, 'cluster id is 1..128 bytes');
  const w = new ByteWriter();
  w.u8(FrameKind.Hello);
  w.u8(hello.version);
  w.varint(id.length);
  w.bytes(id);
  w.varint(hello.nodeId);
  if (hello.address) {
    const host = utf8.encode(hello.address.host);
    assert(host.length >= 1 && host.length <= MAX_HOST_BYTES, 'hello host is 1..255 bytes');
    w.varint(host.length);
    w.bytes(host);
    w.varint(hello.address.port);
  }
  const payload = w.finish();
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** The complete reject frame: kind byte and a UTF-8 reason (cut to its limit). */
export function encodeRejectFrame(reason: string): Buffer {
  let text = Buffer.from(reason, 'utf8');
  if (text.length > MAX_REJECT_REASON_BYTES) text = text.subarray(0, MAX_REJECT_REASON_BYTES);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 1 + text.length);
  frame.writeUInt32BE(1 + text.length, 0);
  frame[FRAME_HEADER_BYTES] = FrameKind.Reject;
  frame.set(text, FRAME_HEADER_BYTES + 1);
  return frame;
}

/** The reason of a reject frame at the start of `data`, or undefined if it is not one. */
export function decodeRejectFrame(data: Buffer): string | undefined {
  if (data.length < FRAME_HEADER_BYTES + 1) return undefined;
  const length = data.readUInt32BE(0);
  if (length < 1 || length > MAX_REJECT_REASON_BYTES + 1 || data.length < FRAME_HEADER_BYTES + length)
    return undefined;
  if (data[FRAME_HEADER_BYTES] !== FrameKind.Reject) return undefined;
  // Lenient decoding: this is a message for a log line, never acted upon.
  return data.subarray(FRAME_HEADER_BYTES + 1, FRAME_HEADER_BYTES + length).toString('utf8');
}

/** Decode the body of a hello frame (the payload after the kind byte). */
export function decodeHello(r: ByteReader): Hello {
  const version = r.u8('hello version');
  const length = r.varint('cluster id length');
  if (length < 1 || length > MAX_CLUSTER_ID_BYTES) throw badFrame(`bad cluster id length ${length}`);
  const raw = r.bytes(length, 'cluster id');
  let clusterId: string;
  try {
    clusterId = strictUtf8.decode(raw);
  } catch {
    throw badFrame('cluster id is not UTF-8');
  }
  const nodeId = r.varint('hello node id');
  if (nodeId < 1) throw badFrame('hello node id must be >= 1');
  if (r.remaining === 0) return { version, clusterId, nodeId };
  const hostLength = r.varint('hello host length');
  if (hostLength < 1 || hostLength > MAX_HOST_BYTES) throw badFrame(`bad hello host length ${hostLength}`);
  let host: string;
  try {
    host = strictUtf8.decode(r.bytes(hostLength, 'hello host'));
  } catch {
    throw badFrame('hello host is not UTF-8');
  }
  if (isIP(host) === 0) throw badFrame('hello host is not an IP address');
  const port = r.varint('hello port');
  if (port < 1 || port > 65535) throw badFrame(`bad hello port ${port}`);
  r.expectEnd('hello');
  return { version, clusterId, nodeId, address: { host, port } };
}

/** Bytes a batch frame of `count` messages adds around the messages themselves. */
export function batchFrameOverhead(count: number): number {
  return FRAME_HEADER_BYTES + 1 + varintSize(count);
}

/**
 * One batch frame, length prefix included, from already encoded messages (the transport
 * encodes at send time so that queues are bounded by exact byte counts).
 */
export function buildBatchFrame(encoded: readonly Uint8Array[], messageBytes: number): Buffer {
  const count = encoded.length;
  const total = batchFrameOverhead(count) + messageBytes;
  const frame = Buffer.allocUnsafe(total);
  frame.writeUInt32BE(total - FRAME_HEADER_BYTES, 0);
  let at = FRAME_HEADER_BYTES;
  frame[at++] = FrameKind.Batch;
  let value = count;
  while (value >= 0x80) {
    frame[at++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  frame[at++] = value;
  for (const part of encoded) {
    frame.set(part, at);
    at += part.length;
  }
  assert(at === total, 'batch frame filled exactly');
  return frame;
}

/**
 * Splits a byte stream into frame payloads. Pull-based (`push` then `next` until undefined) so
 * the caller can change the size limit between frames: after the hello, the limit rises from
 * MAX_HELLO_FRAME_BYTES to maxFrameBytes. A bad length throws MK_BAD_FRAME before the frame's
 * bytes are buffered.
 */
export class FrameReader {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  /** Payload length of the frame whose header has been read; -1 while waiting for a header. */
  private pending = -1;

  constructor(public maxFrameBytes: number) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** Bytes held for a frame not complete yet (bounded by maxFrameBytes + a read chunk). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  next(): Buffer | undefined {
    if (this.pending < 0) {
      if (this.buffered < FRAME_HEADER_BYTES) return undefined;
      const length = this.take(FRAME_HEADER_BYTES).readUInt32BE(0);
      if (length === 0) throw badFrame('empty frame');
      if (length > this.maxFrameBytes) {
        throw badFrame(`frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`, { length });
      }
      this.pending = length;
    }
    if (this.buffered < this.pending) return undefined;
    const payload = this.take(this.pending);
    this.pending = -1;
    return payload;
  }

  private take(bytes: number): Buffer {
    assert(bytes <= this.buffered, 'take within the buffered bytes');
    this.buffered -= bytes;
    const first = this.chunks[0]!;
    if (first.length > bytes) {
      this.chunks[0] = first.subarray(bytes);
      return first.subarray(0, bytes);
    }
    if (first.length === bytes) {
      this.chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(bytes);
    let filled = 0;
    while (filled < bytes) {
      const chunk = this.chunks[0]!;
      const wanted = bytes - filled;
      if (chunk.length <= wanted) {
        out.set(chunk, filled);
        filled += chunk.length;
        this.chunks.shift();
      } else {
        out.set(chunk.subarray(0, wanted), filled);
        this.chunks[0] = chunk.subarray(wanted);
        filled += wanted;
      }
    }
    return out;
  }
}
