/**
 * Clients put things in the HTTP/2 `:authority` pseudo-header that Node's HTTP/2 stack (nghttp2)
 * refuses: clientv3 (etcdctl, kube-apiserver) sends the socket path for a `unix://` endpoint
 * ("/run/etcd.sock"), some clientv3 3.4 releases send the whole endpoint ("http://host:port"),
 * grpc-go resolvers send "endpoint://client-.../host:port". nghttp2 checks the value against the
 * authority grammar and resets the stream with PROTOCOL_ERROR, and Node has no switch to turn
 * that check off. etcd (grpc-go) never looks at the value.
 *
 * So every connection goes through this rewriter before the HTTP/2 server sees it: it follows the
 * client's frames, and in each request header block replaces an `:authority` value that nghttp2
 * would refuse, or that it cannot read (Huffman-coded), with the one-character value "x". Nothing else changes
 * and nothing on this server reads the authority.
 *
 * HPACK keeps the decoder's dynamic table in step with the encoder's, so changing a value that the
 * client asked to index must not change which entries the client may refer to. The rewritten
 * value is never longer than the original, so every rewritten entry is at most as large as the
 * client thinks: the server evicts no entry before the client does, the client's table stays a
 * prefix (newest first) of the server's, and every index the client sends names the same entry.
 * Indexed fields, table size updates and all other frames pass through untouched.
 */
import { Duplex } from 'node:stream';

const PREFACE_BYTES = 24;
const FRAME_HEADER_BYTES = 9;
const TYPE_HEADERS = 0x1;
const TYPE_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** HTTP/2's default SETTINGS_MAX_FRAME_SIZE, which Node's server keeps: re-framed blocks fit it. */
const OUT_FRAME_PAYLOAD = 16384;
/** Index of ":authority" in the HPACK static table. */
const STATIC_AUTHORITY = 1;
const AUTHORITY_NAME = Buffer.from(':authority', 'latin1');
/** The rewritten value as an HPACK string: not Huffman-coded, length 1, "x" (nghttp2 refuses ""). */
const REPLACEMENT = Buffer.from([0x01, 0x78]);

/** Characters nghttp2 accepts in an authority (RFC 3986 reg-name, IP literal and port). */
const AUTHORITY_CHARS = new Uint8Array(256);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:%@[]") {
  AUTHORITY_CHARS[c.charCodeAt(0)] = 1;
}

function acceptable(value: Buffer): boolean {
  for (const byte of value) if (AUTHORITY_CHARS[byte] === 0) return false;
  return true;
}

/** An HPACK integer with an N-bit prefix at `pos`; undefined if truncated or absurd. */
function readInt(buf: Buffer, pos: number, prefixBits: number): { value: number; next: number } | undefined {
  if (pos >= buf.length) return undefined;
  const max = (1 << prefixBits) - 1;
  let value = buf[pos]! & max;
  pos++;
  if (value < max) return { value, next: pos };
  let shift = 0;
  while (pos < buf.length) {
    const byte = buf[pos++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value, next: pos };
    shift += 7;
    if (shift > 28) return undefined;
  }
  return undefined;
}

/** An HPACK string literal at `pos`. */
function readString(buf: Buffer, pos: number): { huffman: boolean; start: number; end: number } | undefined {
  if (pos >= buf.length) return undefined;
  const huffman = (buf[pos]! & 0x80) !== 0;
  const len = readInt(buf, pos, 7);
  if (len === undefined || len.next + len.value > buf.length) return undefined;
  return { huffman, start: len.next, end: len.next + len.value };
}

/**
 * The header block with refused `:authority` values emptied, or undefined when nothing changes
 * (or the block does not parse: then it goes through as it came and nghttp2 judges it).
 */
export function rewriteHeaderBlock(block: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let copyFrom = 0;
  let pos = 0;
  let changed = false;
  while (pos < block.length) {
    const first = block[pos]!;
    if (first & 0x80) {
      // Indexed field.
      const idx = readInt(block, pos, 7);
      if (idx === undefined) return undefined;
      pos = idx.next;
      continue;
    }
    if ((first & 0xe0) === 0x20) {
      // Dynamic table size update.
      const size = readInt(block, pos, 5);
      if (size === undefined) return undefined;
      pos = size.next;
      continue;
    }
    // Literal: with incremental indexing (01), without indexing (0000) or never indexed (0001).
    const name = readInt(block, pos, (first & 0x40) !== 0 ? 6 : 4);
    if (name === undefined) return undefined;
    let isAuthority = name.value === STATIC_AUTHORITY;
    let valuePos = name.next;
    if (name.value === 0) {
      const literal = readString(block, name.next);
      if (literal === undefined) return undefined;
      isAuthority = !literal.huffman && block.subarray(literal.start, literal.end).equals(AUTHORITY_NAME);
      valuePos = literal.end;
    }
    const value = readString(block, valuePos);
    if (value === undefined) return undefined;
    // An empty value stays (nghttp2 refuses it, but a shorter replacement does not exist). A
    // non-empty Huffman string decodes to at least one character, so REPLACEMENT is never longer.
    const encoded = value.end - value.start;
    if (
      isAuthority &&
      encoded > 0 &&
      (value.huffman || !acceptable(block.subarray(value.start, value.end)))
    ) {
      // Keep the representation and the name, replace the value by a plain one-character string.
      parts.push(block.subarray(copyFrom, valuePos), REPLACEMENT);
      copyFrom = value.end;
      changed = true;
    }
    pos = value.end;
  }
  if (!changed) return undefined;
  parts.push(block.subarray(copyFrom));
  return Buffer.concat(parts);
}

function frameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  head.writeUIntBE(length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return head;
}

/** HEADERS (+ CONTINUATION) frames carrying `block`, each payload within the default frame size. */
function frameBlock(
  streamId: number,
  endStream: boolean,
  priority: Buffer | undefined,
  block: Buffer,
): Buffer[] {
  const out: Buffer[] = [];
  const firstRoom = OUT_FRAME_PAYLOAD - (priority?.length ?? 0);
  let offset = Math.min(firstRoom, block.length);
  const last = offset === block.length;
  const flags =
    (endStream ? FLAG_END_STREAM : 0) | (last ? FLAG_END_HEADERS : 0) | (priority ? FLAG_PRIORITY : 0);
  const first = block.subarray(0, offset);
  out.push(frameHeader(first.length + (priority?.length ?? 0), TYPE_HEADERS, flags, streamId));
  if (priority) out.push(priority);
  out.push(first);
  while (offset < block.length) {
    const chunk = block.subarray(offset, offset + OUT_FRAME_PAYLOAD);
    offset += chunk.length;
    const end = offset === block.length ? FLAG_END_HEADERS : 0;
    out.push(frameHeader(chunk.length, TYPE_CONTINUATION, end, streamId), chunk);
  }
  return out;
}

interface PendingBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly priority: Buffer | undefined;
  /** The frames as received, sent unchanged when the block needs no rewrite. */
  readonly raw: Buffer[];
  readonly fragments: Buffer[];
  size: number;
}

export class ProtocolViolation extends Error {}

/**
 * Incremental parser of the client-to-server byte stream: `feed` returns the bytes to hand on.
 * Frame payloads other than header blocks are passed on as they arrive, never buffered whole.
 */
export class AuthorityRewriter {
  private prefaceLeft = PREFACE_BYTES;
  private head: Buffer = Buffer.alloc(0);
  /** Payload bytes of the current frame still to pass on untouched. */
  private passLeft = 0;
  /** The current HEADERS/CONTINUATION frame being collected. */
  private frame:
    | { header: Buffer; type: number; flags: number; streamId: number; need: number; chunks: Buffer[] }
    | undefined;
  private block: PendingBlock | undefined;

  constructor(private readonly maxBlockBytes: number) {}

  feed(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.prefaceLeft > 0) {
        const n = Math.min(this.prefaceLeft, chunk.length - pos);
        out.push(chunk.subarray(pos, pos + n));
        this.prefaceLeft -= n;
        pos += n;
        continue;
      }
      if (this.passLeft > 0) {
        const n = Math.min(this.passLeft, chunk.length - pos);
        out.push(chunk.subarray(pos, pos + n));
        this.passLeft -= n;
        pos += n;
        continue;
      }
      if (this.frame) {
        const n = Math.min(this.frame.need, chunk.length - pos);
        this.frame.chunks.push(chunk.subarray(pos, pos + n));
        this.frame.need -= n;
        pos += n;
        if (this.frame.need === 0) out.push(...this.onFrame());
        continue;
      }
      // A frame header, possibly split across chunks.
      const n = Math.min(FRAME_HEADER_BYTES - this.head.length, chunk.length - pos);
      this.head =
        this.head.length === 0
          ? chunk.subarray(pos, pos + n)
          : Buffer.concat([this.head, chunk.subarray(pos, pos + n)]);
      pos += n;
      if (this.head.length < FRAME_HEADER_BYTES) continue;
      const header = Buffer.from(this.head);
      this.head = Buffer.alloc(0);
      const length = header.readUIntBE(0, 3);
      const type = header[3]!;
      const flags = header[4]!;
      const streamId = header.readUInt32BE(5) & 0x7fffffff;
      if (type === TYPE_HEADERS || type === TYPE_CONTINUATION || this.block) {
        this.frame = { header, type, flags, streamId, need: length, chunks: [] };
        if (length === 0) out.push(...this.onFrame());
      } else {
        out.push(header);
        this.passLeft = length;
      }
    }
    return out;
  }

  private onFrame(): Buffer[] {
    const frame = this.frame!;
    this.frame = undefined;
    const payload = frame.chunks.length === 1 ? frame.chunks[0]! : Buffer.concat(frame.chunks);
    const raw = [frame.header, payload];
    if (this.block) {
      if (frame.type !== TYPE_CONTINUATION || frame.streamId !== this.block.streamId) {
        // Not what HTTP/2 allows after an unfinished block: hand everything on, nghttp2 rejects it.
        const pending = this.block.raw;
        this.block = undefined;
        return [...pending, ...raw];
      }
      this.block.raw.push(...raw);
      this.block.fragments.push(payload);
      this.block.size += payload.length;
    } else if (frame.type === TYPE_HEADERS) {
      let offset = 0;
      let padding = 0;
      if (frame.flags & FLAG_PADDED) {
        padding = payload[0] ?? 0;
        offset = 1;
      }
      const priority = frame.flags & FLAG_PRIORITY ? payload.subarray(offset, offset + 5) : undefined;
      if (priority) offset += 5;
      if (offset + padding > payload.length) return raw;
      this.block = {
        streamId: frame.streamId,
        endStream: (frame.flags & FLAG_END_STREAM) !== 0,
        priority: priority ? Buffer.from(priority) : undefined,
        raw,
        fragments: [payload.subarray(offset, payload.length - padding)],
        size: payload.length,
      };
    } else {
      // A CONTINUATION without a HEADERS before it: nghttp2 will reject it.
      return raw;
    }
    if (this.block.size > this.maxBlockBytes) {
      throw new ProtocolViolation(`header block larger than ${this.maxBlockBytes} bytes`);
    }
    const lastFlags = frame.flags;
    if ((lastFlags & FLAG_END_HEADERS) === 0) return [];
    const block = this.block;
    this.block = undefined;
    const rewritten = rewriteHeaderBlock(Buffer.concat(block.fragments));
    if (rewritten === undefined) return block.raw;
    return frameBlock(block.streamId, block.endStream, block.priority, rewritten);
  }
}

/** Copy the address getters Node's HTTP/2 and grpc-js read off a socket. */
interface SocketLike extends Duplex {
  remoteAddress?: string;
  remotePort?: number;
  remoteFamily?: string;
  localAddress?: string;
  localPort?: number;
  setNoDelay?: (noDelay?: boolean) => unknown;
  setKeepAlive?: (enable?: boolean, delay?: number) => unknown;
  setTimeout?: (ms: number, cb?: () => void) => unknown;
}

/**
 * The client connection as the HTTP/2 server should see it: reads go through the rewriter,
 * writes go straight to the socket. A protocol violation closes the connection.
 */
export class AuthorityRewritingConnection extends Duplex {
  private readonly rewriter: AuthorityRewriter;

  constructor(
    private readonly socket: SocketLike,
    maxBlockBytes: number,
    onViolation: (error: Error) => void,
  ) {
    super({ allowHalfOpen: true });
    this.rewriter = new AuthorityRewriter(maxBlockBytes);
    socket.on('data', (chunk: Buffer) => {
      let out: Buffer[];
      try {
        out = this.rewriter.feed(chunk);
      } catch (error) {
        onViolation(error as Error);
        socket.destroy();
        return;
      }
      let more = true;
      for (const piece of out) more = this.push(piece) && more;
      if (!more) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (error) => this.destroy(error));
    socket.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.socket.remoteFamily;
  }
  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }
  get localPort(): number | undefined {
    return this.socket.localPort;
  }

  setNoDelay(noDelay?: boolean): this {
    this.socket.setNoDelay?.(noDelay);
    return this;
  }
  setKeepAlive(enable?: boolean, delay?: number): this {
    this.socket.setKeepAlive?.(enable, delay);
    return this;
  }

  override _read(): void {
    this.socket.resume();
  }

  private writeOut(chunk: Buffer, callback: (error?: Error | null) => void): void {
    if (this.socket.write(chunk)) callback();
    else this.socket.once('drain', () => callback());
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeOut(chunk, callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    this.writeOut(buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy(error ?? undefined);
    callback(error);
  }
}
