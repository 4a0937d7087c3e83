/**
 * A streaming tar reader for image archives we did not write (docker save, skopeo, ctr export,
 * a user's file or stdin). It never holds a layer in memory: every regular file is hashed as it
 * streams past, and only the small files the caller asks for (index.json, manifests, configs)
 * are kept, within byte limits. Malformed input is MK_IMAGE_INVALID, never a crash.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { MicroK8sError } from '../../lib/errors.js';
import { TAR_BLOCK } from './tar-write.js';

export interface TarReadLimits {
  /** Most entries in one archive. */
  readonly maxEntries: number;
  /** Largest single file kept in memory. */
  readonly maxKeptFileBytes: number;
  /** Largest total of kept files. */
  readonly maxKeptTotalBytes: number;
  /** Largest PAX or GNU long-name record. */
  readonly maxHeaderRecordBytes: number;
}

export const TAR_READ_LIMITS: TarReadLimits = {
  maxEntries: 100_000,
  maxKeptFileBytes: 4 * 1024 * 1024,
  maxKeptTotalBytes: 32 * 1024 * 1024,
  maxHeaderRecordBytes: 64 * 1024,
};

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface ScannedEntry {
  /** Cleaned: no leading './' or '/', no trailing '/'. */
  readonly path: string;
  readonly type: TarEntryType;
  readonly size: number;
  /** Hex sha256 of the content of a regular file ('' for other types). */
  readonly sha256: string;
  readonly linkTarget: string;
  /** The content, for the files the caller chose to keep. */
  readonly data?: Buffer;
}

function invalid(message: string, info: Record<string, unknown> = {}): MicroK8sError {
  return new MicroK8sError('MK_IMAGE_INVALID', message, info);
}

/** Pulls exact byte counts out of a chunked stream. */
class ByteReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private pending: Buffer = Buffer.alloc(0);
  offset = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    const next = await this.iterator.next();
    if (next.done) return false;
    const chunk = Buffer.from(next.value);
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    return true;
  }

  /** Exactly n bytes; undefined at a clean end of stream; MK_IMAGE_INVALID if it ends inside. */
  async exact(n: number): Promise<Buffer | undefined> {
    while (this.pending.length < n) {
      if (!(await this.fill())) {
        if (this.pending.length === 0) return undefined;
        throw invalid(`the tar is truncated at byte ${this.offset + this.pending.length}`);
      }
    }
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    this.offset += n;
    return out;
  }

  /** Streams n bytes to a callback without holding them. */
  async stream(n: number, onChunk: (chunk: Buffer) => void): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.pending.length === 0 && !(await this.fill())) {
        throw invalid(`the tar is truncated at byte ${this.offset}`);
      }
      const take = this.pending.subarray(0, Math.min(left, this.pending.length));
      this.pending = this.pending.subarray(take.length);
      this.offset += take.length;
      left -= take.length;
      if (take.length > 0) onChunk(take);
    }
  }

  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}

function field(block: Buffer, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? length : end).toString('utf8');
}

function numeric(block: Buffer, start: number, length: number, what: string): number {
  const raw = block.subarray(start, start + length);
  // GNU base-256: the high bit of the first byte set (sizes over 8 GiB).
  if ((raw[0]! & 0x80) !== 0) {
    let value = raw[0]! & 0x7f;
    for (const byte of raw.subarray(1)) value = value * 256 + byte;
    if (!Number.isSafeInteger(value)) throw invalid(`tar header ${what} is too large`);
    return value;
  }
  const text = raw
    .toString('ascii')
    .replace(/[\0 ]+$/, '')
    .replace(/^[ ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw invalid(`tar header has a malformed ${what} field`, { offset: start });
  return Number.parseInt(text, 8);
}

function checksumOk(block: Buffer): boolean {
  const text = block
    .subarray(148, 156)
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]+$/.test(text)) return false;
  const stored = Number.parseInt(text, 8);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === stored;
}

function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = Number.parseInt(data.subarray(at, space).toString('ascii'), 10);
    if (space === -1 || !Number.isSafeInteger(length) || length <= 0 || at + length > data.length) {
      throw invalid('the tar has a malformed PAX header');
    }
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return out;
}

export function cleanArchivePath(path: string): string {
  return path
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/');
}

function entryType(flag: string): TarEntryType {
  if (flag === '0' || flag === '\0' || flag === '' || flag === '7') return 'file';
  if (flag === '5') return 'dir';
  if (flag === '2') return 'symlink';
  if (flag === '1') return 'hardlink';
  return 'other';
}

/** Gzip-compressed archives (docker save | gzip) are read through gunzip, as ctr does. */
async function* maybeGunzip(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) return;
  const rest: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => iterator };
  async function* all(): AsyncGenerator<Uint8Array> {
    yield first.value as Uint8Array;
    yield* rest;
  }
  const head = first.value as Uint8Array;
  if (head[0] !== 0x1f || head[1] !== 0x8b) {
    yield* all();
    return;
  }
  const gunzip = Readable.from(all()).pipe(createGunzip());
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (error) {
    throw invalid(`the gzip stream is damaged: ${(error as Error).message}`);
  }
}

/**
 * Which regular files to hold in memory: 'always' (over the limits is MK_IMAGE_INVALID),
 * 'if-json' (content starting with '{', dropped quietly when over the limits: a blob may be a
 * manifest or a layer, and only its first byte tells) or 'never'.
 */
export type KeepRule = (path: string, size: number) => 'always' | 'if-json' | 'never';

/**
 * Reads every entry of a tar, keeping the files `keep` asks for within the limits. Later
 * entries with the same path replace earlier ones, as extraction would.
 */
export async function scanTar(
  source: AsyncIterable<Uint8Array>,
  keep: KeepRule,
  limits: TarReadLimits = TAR_READ_LIMITS,
): Promise<Map<string, ScannedEntry>> {
  const reader = new ByteReader(maybeGunzip(source));
  const entries = new Map<string, ScannedEntry>();
  let kept = 0;
  let count = 0;
  let sawEnd = false;
  let pax = new Map<string, string>();
  let gnuName: string | undefined;
  let gnuLink: string | undefined;
  try {
    for (;;) {
      const block = await reader.exact(TAR_BLOCK);
      if (!block) break;
      if (block.every((byte) => byte === 0)) {
        sawEnd = true;
        break;
      }
      if (!checksumOk(block)) {
        throw invalid(`not a tar archive (bad header checksum at byte ${reader.offset - TAR_BLOCK})`);
      }
      const flag = String.fromCharCode(block[156]!);
      const size = pax.has('size') ? Number(pax.get('size')) : numeric(block, 124, 12, 'size');
      if (!Number.isSafeInteger(size) || size < 0) throw invalid('the tar has an entry with a bad size');
      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        if (size > limits.maxHeaderRecordBytes) {
          throw invalid(
            `a tar header record is ${size} bytes, over the ${limits.maxHeaderRecordBytes}-byte limit`,
          );
        }
        const data =
          (await reader.exact(size + ((TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK))) ?? Buffer.alloc(0);
        if (data.length < size) throw invalid('the tar is truncated inside a header record');
        const body = data.subarray(0, size);
        // A global PAX header ('g') sets defaults we do not need (times, owners): skipped.
        if (flag === 'x') pax = parsePax(body);
        else if (flag === 'L') gnuName = field(body, 0, body.length);
        else if (flag === 'K') gnuLink = field(body, 0, body.length);
        continue;
      }
      count += 1;
      if (count > limits.maxEntries) throw invalid(`the tar has more than ${limits.maxEntries} entries`);
      const magic = block.subarray(257, 263).toString('ascii');
      const prefix = magic.startsWith('ustar') ? field(block, 345, 155) : '';
      const rawName =
        pax.get('path') ?? gnuName ?? (prefix ? `${prefix}/${field(block, 0, 100)}` : field(block, 0, 100));
      const linkTarget = pax.get('linkpath') ?? gnuLink ?? field(block, 157, 100);
      pax = new Map();
      gnuName = undefined;
      gnuLink = undefined;
      const type = entryType(flag);
      const path = cleanArchivePath(rawName);
      const bodySize = type === 'file' || type === 'other' ? size : 0;
      const hash = createHash('sha256');
      const rule = type === 'file' ? keep(path, size) : 'never';
      const fits = size <= limits.maxKeptFileBytes && kept + size <= limits.maxKeptTotalBytes;
      if (rule === 'always' && !fits) {
        throw invalid(`'${path}' is ${size} bytes: over the limits for image metadata`, {
          maxFileBytes: limits.maxKeptFileBytes,
          maxTotalBytes: limits.maxKeptTotalBytes,
        });
      }
      let wanted = rule === 'always' || (rule === 'if-json' && fits && size > 0);
      const pieces: Buffer[] = [];
      await reader.stream(bodySize, (chunk) => {
        hash.update(chunk);
        if (wanted && pieces.length === 0 && rule === 'if-json' && chunk[0] !== 0x7b) wanted = false;
        if (wanted) pieces.push(Buffer.from(chunk));
      });
      await reader.stream((TAR_BLOCK - (bodySize % TAR_BLOCK)) % TAR_BLOCK, () => {});
      if (wanted) kept += size;
      if (path === '') continue;
      entries.set(path, {
        path,
        type,
        size: bodySize,
        sha256: type === 'file' ? hash.digest('hex') : '',
        linkTarget,
        ...(wanted ? { data: Buffer.concat(pieces) } : {}),
      });
    }
  } finally {
    await reader.close();
  }
  if (!sawEnd && count === 0) throw invalid('not an image: the input is empty or not a tar archive');
  return entries;
}
