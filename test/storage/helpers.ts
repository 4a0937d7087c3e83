// Shared helpers of the durable log tests: temporary directories, a capturing logger, entries.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry } from '../../src/datastore/raft/types.js';
import { createLogger, type Logger } from '../../src/lib/log.js';

export async function tempDir(prefix = 'mk8s-log-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export interface CapturedLog {
  readonly logger: Logger;
  readonly records: Record<string, unknown>[];
  warnings(): Record<string, unknown>[];
}

/** A logger whose JSON lines are kept for the test to inspect (nothing goes to stderr). */
export function captureLogger(): CapturedLog {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger('test-log', {
    level: 'debug',
    sink: { write: (line) => records.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { logger, records, warnings: () => records.filter((r) => r.level === 'warn') };
}

/** A quiet logger for tests that do not look at the log. */
export function quietLogger(): Logger {
  return createLogger('test-log', { level: 'error', sink: { write: () => undefined } });
}

export function entry(index: number, term: number, size = 16): Entry {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index * 31 + i * 7 + term) & 0xff;
  return { index, term, type: 0, data };
}

export function entries(from: number, to: number, term: number, size = 16): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term, size));
  return out;
}

/** name -> sha256 of every file in `dir`, to prove a failed open left the files untouched. */
export async function hashDir(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    out[name] = createHash('sha256')
      .update(await readFile(join(dir, name)))
      .digest('hex');
  }
  return out;
}

export async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
}

/** The content of entry `index` of term `term` in the crash test: checked after the crash. */
export function crashEntryData(index: number, term: number, size: number): Uint8Array {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index * 131 + term * 17 + i) & 0xff;
  return data;
}
