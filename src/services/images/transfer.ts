/**
 * `images import` and `images export-local`: an archive is checked before containerd sees it,
 * and an export is checked after ctr wrote it. Stdin is spooled to a private temp file while it
 * is checked, because ctr needs the whole archive and the check reads it once.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MicroK8sError } from '../../lib/errors.js';
import {
  type CtrTarget,
  ctrExport,
  ctrImageNames,
  ctrImport,
  ensureContainerd,
  type ImportOptions,
} from './ctr.js';
import { type ArchiveReport, inspectImageArchive, inspectImageFile } from './image-archive.js';
import { LOCAL_REGISTRY } from './names.js';

async function withTempDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'microk8s-images-'));
  try {
    return await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Copies a stream into a file while yielding its chunks to the checker. */
async function* tee(source: Readable, file: string): AsyncGenerator<Uint8Array> {
  const out = createWriteStream(file, { mode: 0o600 });
  try {
    for await (const chunk of source) {
      const buffer = chunk as Buffer;
      if (!out.write(buffer)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      yield buffer;
    }
  } finally {
    await new Promise<void>((resolve, reject) =>
      out.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
  }
}

/** Checks then imports FILE, or stdin when input is '-'. */
export async function importImageArchive(
  target: CtrTarget,
  input: string,
  options: ImportOptions = {},
  stdin: Readable = process.stdin,
): Promise<ArchiveReport> {
  if (input !== '-') {
    const report = await inspectImageFile(input);
    await ctrImport(target, input, options);
    return report;
  }
  return withTempDir(async (dir) => {
    const file = join(dir, 'stdin.tar');
    // The check stops at the tar's end marker; ctr needs nothing after it.
    const report = await inspectImageArchive(tee(stdin, file));
    await ctrImport(target, file, options);
    return report;
  });
}

export interface ExportResult {
  readonly names: readonly string[];
  readonly report: ArchiveReport;
}

/**
 * Exports the named images, or every image built here (named localhost/...), into one archive
 * at `output`, or to `stdout` when output is '-'.
 */
export async function exportLocalImages(
  target: CtrTarget,
  names: readonly string[],
  output: string,
  stdout: Writable = process.stdout,
  options: { allPlatforms?: boolean } = {},
): Promise<ExportResult> {
  await ensureContainerd(target);
  let chosen = [...names];
  if (chosen.length === 0) {
    chosen = (await ctrImageNames(target)).filter((name) => name.startsWith(`${LOCAL_REGISTRY}/`)).sort();
    if (chosen.length === 0) {
      throw new MicroK8sError(
        'MK_INVALID_ARGUMENT',
        `no image named ${LOCAL_REGISTRY}/... on this node to export`,
      );
    }
  }
  if (output !== '-') {
    await ctrExport(target, output, chosen, options);
    return { names: chosen, report: await inspectImageFile(output) };
  }
  // ctr prints progress on its stdout, so it writes a file and we stream that.
  return withTempDir(async (dir) => {
    const file = join(dir, 'export.tar');
    await ctrExport(target, file, chosen, options);
    const report = await inspectImageFile(file);
    await pipeline(createReadStream(file), stdout, { end: false });
    return { names: chosen, report };
  });
}
