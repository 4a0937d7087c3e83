/**
 * Which layout for the durable Raft log? `npx tsx bench/log-layout.ts`
 *
 * Options: --seconds 1 --runs 3 --sizes 256,4096 --writers 1,16,64 --no-single --json
 *          --layouts sqlite,segments,DurableLog,DurableLog-noprealloc
 *
 * Compares, on the disk that holds os.tmpdir():
 *  - sqlite:      a better-sqlite3 table, journal_mode=WAL, synchronous=FULL; group commit = one
 *                 transaction per batch of pending appends.
 *  - segments:    a bare append-only file of our checksummed records + fdatasync; group commit =
 *                 one write + fdatasync per batch of pending appends (the layout before any
 *                 bookkeeping).
 *  - DurableLog:  the implementation (segments with commit records, zero-filled preallocation,
 *                 in-memory window, a snapshot + compaction every COMPACT_EVERY entries).
 *  - DurableLog-noprealloc: the same with preallocateBytes = 0, to show what preallocation buys.
 *
 * Workloads, for entries of 256 B and 4 KiB:
 *  - single: one writer, one entry per append, each durable before the next (latency, ops/s);
 *  - group:  W concurrent writers (1, 16, 64), each appending one entry at a time and waiting for
 *            it to be durable; appends that arrive during a commit share the next one (entries/s,
 *            entries per commit = per fdatasync).
 * Each cell is bounded by time and by a count; the default run takes about two minutes. On a
 * shared machine the figures are noisy: compare layouts within one run, use --runs 5 or more.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import type { Entry } from '../src/datastore/raft/types.js';
import { DurableLog } from '../src/datastore/storage/durable-log.js';
import { writeFullySync } from '../src/datastore/storage/files.js';
import type { StorageLimits } from '../src/datastore/storage/limits.js';
import { encodeEntry } from '../src/datastore/storage/records.js';
import { createLogger } from '../src/lib/log.js';

const { values } = parseArgs({
  allowNegative: true,
  options: {
    seconds: { type: 'string', default: '1' },
    runs: { type: 'string', default: '3' },
    sizes: { type: 'string', default: '256,4096' },
    writers: { type: 'string', default: '1,16,64' },
    layouts: { type: 'string', default: 'sqlite,segments,DurableLog,DurableLog-noprealloc' },
    single: { type: 'boolean', default: true },
    json: { type: 'boolean', default: false },
  },
});
const SECONDS_PER_CELL = Number(values.seconds);
/** Each cell runs this many times (interleaved with the others) and reports the median run. */
const RUNS = Number(values.runs);
/** Upper bound of appends in one cell, whatever the disk's speed. */
const MAX_APPENDS_PER_CELL = 200_000;
const numbers = (list: string) => list.split(',').map(Number);
const SIZES = numbers(values.sizes);
/** DurableLog: entries between compactions (it keeps them in memory in between). */
const COMPACT_EVERY = 10_000;
const WRITERS = numbers(values.writers);

/** A log under test: append one entry, resolved once durable; commits() counts fsyncs/commits. */
interface Appender {
  append(entry: Entry): Promise<void>;
  commits(): number;
  close(): Promise<void>;
}

/** Group commit shared by the two hand-made layouts: appends that arrive during a commit wait for the next. */
class Batcher {
  private pending: { entry: Entry; resolve: () => void; reject: (e: Error) => void }[] = [];
  private running = false;
  commits = 0;

  constructor(private readonly commit: (entries: Entry[]) => Promise<void> | void) {}

  append(entry: Entry): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ entry, resolve, reject });
      if (!this.running) {
        this.running = true;
        queueMicrotask(() => void this.pump());
      }
    });
  }

  private async pump(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.commit(batch.map((p) => p.entry));
        this.commits++;
        for (const p of batch) p.resolve();
      } catch (error) {
        for (const p of batch) p.reject(error as Error);
      }
      // Let the resolved writers enqueue their next append before the next commit starts.
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.running = false;
  }
}

function sqliteAppender(dir: string): Appender {
  const db = new Database(join(dir, 'log.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(
    'CREATE TABLE entries (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type INTEGER NOT NULL, data BLOB NOT NULL)',
  );
  const insert = db.prepare('INSERT OR REPLACE INTO entries (idx, term, type, data) VALUES (?, ?, ?, ?)');
  const many = db.transaction((entries: Entry[]) => {
    for (const e of entries) insert.run(e.index, e.term, e.type, e.data);
  });
  const batcher = new Batcher((entries) => many(entries));
  return {
    append: (entry) => batcher.append(entry),
    commits: () => batcher.commits,
    close: async () => void db.close(),
  };
}

async function segmentAppender(dir: string): Promise<Appender> {
  const fh: FileHandle = await open(join(dir, 'bench.seg'), 'w');
  let position = 0;
  const batcher = new Batcher(async (entries) => {
    const data = Buffer.concat(entries.map(encodeEntry));
    // Same write path as DurableLog: copy into the page cache synchronously, fdatasync async.
    writeFullySync(fh.fd, data, position);
    position += data.length;
    await fh.datasync();
  });
  return {
    append: (entry) => batcher.append(entry),
    commits: () => batcher.commits,
    close: () => fh.close(),
  };
}

async function durableLogAppender(dir: string, limits: Partial<StorageLimits> = {}): Promise<Appender> {
  const logger = createLogger('bench', { level: 'error' });
  const log = await DurableLog.open(dir, { logger, limits });
  // Group commit rounds, not fsyncs: those also count the rare meta-file and directory syncs.
  const start = log.stats().flushes;
  return {
    append: async (entry) => {
      await log.save({ entries: [entry] });
      // Snapshot and compact now and then, as a node does: DurableLog keeps the entries since the
      // last compaction in memory, and without this the bench would measure the GC instead.
      if (entry.index % COMPACT_EVERY === 0) {
        await log.markSnapshot({ index: entry.index, term: entry.term, conf: { members: [] } });
        await log.compact(entry.index);
      }
    },
    commits: () => log.stats().flushes - start,
    close: () => log.close(),
  };
}

const LAYOUTS: Record<string, (dir: string) => Appender | Promise<Appender>> = {
  sqlite: sqliteAppender,
  segments: segmentAppender,
  DurableLog: (dir) => durableLogAppender(dir),
  'DurableLog-noprealloc': (dir) => durableLogAppender(dir, { preallocateBytes: 0 }),
};

interface Cell {
  layout: string;
  size: number;
  workload: string;
  writers: number;
  entries: number;
  seconds: number;
  entriesPerSecond: number;
  entriesPerCommit: number;
  p50Ms?: number;
  p99Ms?: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

async function runCell(layout: string, size: number, writers: number, single: boolean): Promise<Cell> {
  const dir = mkdtempSync(join(tmpdir(), 'mk8s-log-bench-'));
  try {
    const appender = await LAYOUTS[layout]!(dir);
    const data = new Uint8Array(size).fill(0xab);
    let next = 1;
    const latencies: number[] = [];
    const started = performance.now();
    const deadline = started + SECONDS_PER_CELL * 1000;
    // Entries are numbered when the writer issues them, so the log stays contiguous.
    const writer = async () => {
      while (performance.now() < deadline && next <= MAX_APPENDS_PER_CELL) {
        const entry: Entry = { index: next++, term: 1, type: 0, data };
        const t = performance.now();
        await appender.append(entry);
        if (single) latencies.push(performance.now() - t);
      }
    };
    await Promise.all(Array.from({ length: writers }, writer));
    const seconds = (performance.now() - started) / 1000;
    const entries = next - 1;
    const commits = appender.commits();
    await appender.close();
    latencies.sort((a, b) => a - b);
    return {
      layout,
      size,
      workload: single ? 'single' : 'group',
      writers,
      entries,
      seconds,
      entriesPerSecond: entries / seconds,
      entriesPerCommit: entries / Math.max(1, commits),
      ...(single ? { p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99) } : {}),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Runs are interleaved (every cell once, then again) so that a slow phase of a shared disk hits
// all layouts alike; the median run of each cell is reported.
const plan: { layout: string; size: number; writers: number; single: boolean }[] = [];
for (const size of SIZES) {
  for (const layout of values.layouts.split(',')) {
    if (!(layout in LAYOUTS))
      throw new Error(`unknown layout ${layout}; known: ${Object.keys(LAYOUTS).join(', ')}`);
    if (values.single) plan.push({ layout, size, writers: 1, single: true });
    for (const writers of WRITERS) plan.push({ layout, size, writers, single: false });
  }
}
const runs: Cell[][] = plan.map(() => []);
for (let run = 0; run < RUNS; run++) {
  for (const [i, p] of plan.entries()) runs[i]!.push(await runCell(p.layout, p.size, p.writers, p.single));
}
const cells = runs.map(
  (r) => r.sort((a, b) => a.entriesPerSecond - b.entriesPerSecond)[Math.floor(r.length / 2)]!,
);

const fmt = (n: number | undefined, digits = 0) => (n === undefined ? '' : n.toFixed(digits));
const rows = cells.map((c) => [
  c.layout,
  `${c.size}`,
  c.workload === 'single' ? 'single, fsync each' : `group, ${c.writers} writers`,
  fmt(c.entriesPerSecond),
  fmt(c.entriesPerCommit, 1),
  fmt(c.p50Ms, 3),
  fmt(c.p99Ms, 3),
]);
const header = ['layout', 'entry B', 'workload', 'entries/s', 'entries/fsync', 'p50 ms', 'p99 ms'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) =>
  r.map((v, i) => (i < 3 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
console.log(
  `log layout, node ${process.version}, median of ${RUNS} runs of ${SECONDS_PER_CELL} s per cell, dir ${tmpdir()}`,
);
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
if (values.json) console.log(JSON.stringify(cells, null, 2));
