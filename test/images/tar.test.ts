// Our tar writer and reader: round trips, long names, modes, determinism, and GNU tar as an
// independent reader and writer.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scanTar } from '../../src/services/images/tar-read.js';
import { type TarEntry, writeTar } from '../../src/services/images/tar-write.js';
import { chunks, rejectsCode } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mk8s-tar-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const LONG = `${'deep/'.repeat(40)}file-with-a-long-name-${'x'.repeat(120)}`;
const ENTRIES: TarEntry[] = [
  { type: 'file', path: 'bin/tool', mode: 0o755, data: Buffer.from('tool') },
  { type: 'symlink', path: 'bin/alias', target: 'tool' },
  { type: 'dir', path: 'tmp', mode: 0o1777 },
  { type: 'file', path: LONG, mode: 0o600, data: Buffer.alloc(1500, 7) },
  { type: 'symlink', path: 'far', target: `/${'t'.repeat(150)}` },
  { type: 'file', path: 'empty', mode: 0o644, data: Buffer.alloc(0) },
];

test('the same entries in any order give the same bytes', () => {
  const a = writeTar(ENTRIES);
  const b = writeTar([...ENTRIES].reverse());
  assert.ok(a.equals(b));
  assert.is(a.length % 512, 0);
});

test('GNU tar lists our archive: modes, owners 0/0, links, parents, long names', () => {
  const file = join(dir, 'ours.tar');
  writeFileSync(file, writeTar(ENTRIES));
  const listing = execFileSync('tar', ['--numeric-owner', '-tvf', file], { encoding: 'utf8' });
  assert.match(listing, /-rwxr-xr-x 0\/0\s+4 1970-01-01 00:00 bin\/tool/);
  assert.match(listing, /lrwxrwxrwx 0\/0\s+0 1970-01-01 00:00 bin\/alias -> tool/);
  assert.match(listing, /drwxrwxrwt 0\/0\s+0 1970-01-01 00:00 tmp\//);
  assert.match(listing, /drwxr-xr-x 0\/0\s+0 1970-01-01 00:00 bin\//);
  assert.ok(listing.includes(LONG), 'the long name survives');
  assert.ok(listing.includes(`far -> /${'t'.repeat(150)}`), 'the long link target survives');
  const out = join(dir, 'x');
  mkdirSync(out);
  execFileSync('tar', ['-xf', file, '-C', out]);
  assert.is(readFileSync(join(out, LONG)).length, 1500);
});

test('our reader reads what we write, in small chunks', async () => {
  const entries = await scanTar(chunks(writeTar(ENTRIES), 100), (path) =>
    path === 'bin/tool' ? 'always' : 'never',
  );
  assert.is(entries.get('bin/tool')?.data?.toString(), 'tool');
  assert.is(entries.get('bin/alias')?.type, 'symlink');
  assert.is(entries.get('bin/alias')?.linkTarget, 'tool');
  assert.is(entries.get(LONG)?.size, 1500);
  assert.is(entries.get('far')?.linkTarget, `/${'t'.repeat(150)}`);
  assert.is(entries.get('tmp')?.type, 'dir');
  assert.is(entries.get('empty')?.size, 0);
});

test('our reader reads GNU tar archives (long names, ./ prefixes, gzip)', async () => {
  const src = join(dir, 'src');
  mkdirSync(join(src, 'a'.repeat(90), 'b'.repeat(90)), { recursive: true });
  writeFileSync(join(src, 'a'.repeat(90), 'b'.repeat(90), 'c'.repeat(60)), 'deep');
  symlinkSync('a', join(src, 'link'));
  for (const [flags, format] of [
    ['-cf', 'gnu'],
    ['-czf', 'posix'],
  ] as const) {
    const file = join(dir, `gnu-${format}.tar`);
    execFileSync('tar', [flags, file, `--format=${format}`, '-C', src, '.']);
    const entries = await scanTar(chunks(readFileSync(file)), () => 'always');
    const deep = `${'a'.repeat(90)}/${'b'.repeat(90)}/${'c'.repeat(60)}`;
    assert.is(entries.get(deep)?.data?.toString(), 'deep', format);
    assert.is(entries.get('link')?.linkTarget, 'a', format);
  }
});

test('a damaged tar is MK_IMAGE_INVALID: bad checksum, truncated body', async () => {
  const tar = writeTar(ENTRIES);
  const bad = Buffer.from(tar);
  bad[0] = bad[0]! ^ 0xff;
  await rejectsCode(
    scanTar(chunks(bad), () => 'never'),
    'MK_IMAGE_INVALID',
    /checksum/,
  );
  await rejectsCode(
    scanTar(chunks(tar.subarray(0, 700)), () => 'never'),
    'MK_IMAGE_INVALID',
    /truncated/,
  );
});

test.run();
