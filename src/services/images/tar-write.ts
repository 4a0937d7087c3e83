/**
 * A deterministic tar writer (POSIX ustar, with a PAX record only for names that do not fit).
 * Image layers must be byte-identical for the same inputs, or the same image gets a new digest
 * on every build: so entries are sorted, owners are 0:0 with no user or group names, and every
 * mtime is one fixed value.
 */
import { assert } from '../../lib/assert.js';

export const TAR_BLOCK = 512;
/** The mtime of every entry: the epoch, so builds on different days give the same bytes. */
export const FIXED_MTIME = 0;

export type TarEntry =
  | { readonly type: 'file'; readonly path: string; readonly mode: number; readonly data: Uint8Array }
  | { readonly type: 'dir'; readonly path: string; readonly mode: number }
  | { readonly type: 'symlink'; readonly path: string; readonly target: string };

const TYPE_FLAG = { file: '0', symlink: '2', dir: '5', pax: 'x' } as const;

/** A clean relative path: no leading '/', no '.' or '..' parts, no empty parts. */
export function cleanTarPath(path: string): string {
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  assert(parts.length > 0, `tar entry without a name: '${path}'`);
  assert(!parts.includes('..'), `tar entry outside its root: '${path}'`);
  return parts.join('/');
}

function octal(value: number, width: number): string {
  // width - 1 digits and a NUL, as ustar readers expect.
  const digits = value.toString(8);
  assert(digits.length < width, `tar field overflow: ${value}`);
  return `${digits.padStart(width - 1, '0')}\0`;
}

/** ustar splits a long name into prefix (155) + '/' + name (100); undefined when it cannot. */
function splitUstarName(name: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', name };
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest !== '') {
      return { prefix, name: rest };
    }
  }
  return undefined;
}

interface HeaderFields {
  name: string;
  prefix: string;
  mode: number;
  size: number;
  type: string;
  linkname: string;
}

function header(fields: HeaderFields): Buffer {
  const block = Buffer.alloc(TAR_BLOCK);
  block.write(fields.name, 0, 100, 'utf8');
  block.write(octal(fields.mode & 0o7777, 8), 100, 'ascii');
  block.write(octal(0, 8), 108, 'ascii'); // uid
  block.write(octal(0, 8), 116, 'ascii'); // gid
  block.write(octal(fields.size, 12), 124, 'ascii');
  block.write(octal(FIXED_MTIME, 12), 136, 'ascii');
  block.write(' '.repeat(8), 148, 'ascii'); // checksum counted as spaces
  block.write(fields.type, 156, 'ascii');
  block.write(fields.linkname, 157, 100, 'utf8');
  block.write('ustar\0', 257, 'ascii');
  block.write('00', 263, 'ascii');
  block.write(octal(0, 8), 329, 'ascii'); // devmajor
  block.write(octal(0, 8), 337, 'ascii'); // devminor
  block.write(fields.prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}

function padding(size: number): Buffer {
  const rest = size % TAR_BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : TAR_BLOCK - rest);
}

/** One PAX record: "<len> <key>=<value>\n", where len counts the whole record itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) {
    length = String(length).length + Buffer.byteLength(body);
  }
  return `${length}${body}`;
}

function entryBlocks(entry: TarEntry): Buffer[] {
  const path = cleanTarPath(entry.path) + (entry.type === 'dir' ? '/' : '');
  const linkname = entry.type === 'symlink' ? entry.target : '';
  const out: Buffer[] = [];
  let split = splitUstarName(path);
  const longLink = Buffer.byteLength(linkname) > 100;
  if (!split || longLink) {
    const records =
      (split ? '' : paxRecord('path', path)) + (longLink ? paxRecord('linkpath', linkname) : '');
    const data = Buffer.from(records, 'utf8');
    const paxName = `PaxHeaders/${path.slice(-80)}`;
    out.push(
      header({
        name: paxName.slice(0, 100),
        prefix: '',
        mode: 0o644,
        size: data.length,
        type: TYPE_FLAG.pax,
        linkname: '',
      }),
    );
    out.push(data, padding(data.length));
    split ??= { prefix: '', name: path.slice(0, 100) };
  }
  const data =
    entry.type === 'file'
      ? Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength)
      : undefined;
  out.push(
    header({
      name: split.name,
      prefix: split.prefix,
      mode: entry.type === 'symlink' ? 0o777 : entry.mode,
      size: data?.length ?? 0,
      type: TYPE_FLAG[entry.type],
      linkname: longLink ? linkname.slice(0, 100) : linkname,
    }),
  );
  if (data) out.push(data, padding(data.length));
  return out;
}

/**
 * Missing parent folders are added (mode 0755), entries are sorted by path so the input order
 * does not change the bytes, and two entries with one path are a programmer error.
 */
export function normalizeEntries(entries: readonly TarEntry[]): TarEntry[] {
  const byPath = new Map<string, TarEntry>();
  for (const entry of entries) {
    const path = cleanTarPath(entry.path);
    assert(!byPath.has(path), `two tar entries for '${path}'`);
    byPath.set(path, { ...entry, path });
  }
  for (const path of [...byPath.keys()]) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const existing = byPath.get(parent);
      if (!existing) byPath.set(parent, { type: 'dir', path: parent, mode: 0o755 });
      else assert(existing.type === 'dir', `'${parent}' is a parent folder and a ${existing.type}`);
    }
  }
  // Byte order, not locale order: the same on every machine.
  return [...byPath.values()].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

/** The whole archive: normalised entries, then the two zero blocks that end a tar. */
export function writeTar(entries: readonly TarEntry[]): Buffer {
  const blocks = normalizeEntries(entries).flatMap(entryBlocks);
  blocks.push(Buffer.alloc(2 * TAR_BLOCK));
  return Buffer.concat(blocks);
}
