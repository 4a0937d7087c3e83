/**
 * Opening an existing log directory: read the meta file and the live segments, replay them into
 * the entries and hard state, and work out what must be tidied (a torn tail to truncate, files
 * superseded by a finished compaction or snapshot). Nothing here writes: recovery first proves the
 * directory consistent, and only then are its actions applied, so that a corrupt directory is left
 * byte for byte as it was found.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MicroK8sError } from '../../lib/errors.js';
import type { Entry, HardState } from '../raft/types.js';
import { isSnapshotDataName, META_FILE, parseSegmentName, segmentName, TEMP_SUFFIX } from './files.js';
import { type LogMeta, parseMeta } from './meta.js';
import { corruption, scanSegment } from './segment-scan.js';

export interface SegmentInfo {
  readonly seq: number;
  /** Valid bytes (after any torn tail is cut): where the next record goes. */
  bytes: number;
  /** Bytes in the file: `bytes` plus the preallocated zeros after them. */
  allocated: number;
  /** Highest entry index written in this segment, 0 if none: it may go once compaction passes it. */
  maxIndex: number;
}

export interface TornTail {
  readonly file: string;
  readonly seq: number;
  /** Where the valid records end (the new size). */
  readonly validBytes: number;
  readonly fileBytes: number;
  readonly reason: string;
}

export interface Recovery {
  readonly meta: LogMeta;
  readonly hardState: HardState;
  /** Entries after meta.compacted.index, in order. */
  readonly entries: Entry[];
  /** The live segments in order; the last one is where appends go. */
  readonly segments: SegmentInfo[];
  readonly torn?: TornTail;
  /** The last segment holds no valid header (a crash while it was created): write one. */
  readonly needsHeader: boolean;
  /** Files left over from finished operations or interrupted writes; safe to remove. */
  readonly leftovers: string[];
}

export const ZERO_HARD_STATE: HardState = { term: 0, vote: 0, commit: 0 };

export interface DirListing {
  readonly hasMeta: boolean;
  readonly segments: number[];
  readonly dataFiles: string[];
  readonly tempFiles: string[];
}

export async function listLogDir(dir: string): Promise<DirListing> {
  const names = await readdir(dir);
  const segments: number[] = [];
  const dataFiles: string[] = [];
  const tempFiles: string[] = [];
  for (const name of names) {
    const seq = parseSegmentName(name);
    if (seq !== undefined) segments.push(seq);
    else if (isSnapshotDataName(name)) dataFiles.push(name);
    else if (name.endsWith(TEMP_SUFFIX)) tempFiles.push(name);
    // Other names are not ours: leave them alone.
  }
  segments.sort((a, b) => a - b);
  return { hasMeta: names.includes(META_FILE), segments, dataFiles, tempFiles };
}

/** Replays records in log order and checks that they form one consistent log. */
class Replay {
  hardState: HardState | undefined;
  /** Index of ents[0]. */
  private lo = 0;
  readonly ents: Entry[] = [];

  /** `base`: the compaction point; only the entries after it matter. */
  constructor(private readonly base: number) {}

  header(seq: number, hs: HardState, file: string, offset: number): void {
    const prev = this.hardState;
    if (prev && (prev.term !== hs.term || prev.vote !== hs.vote || prev.commit !== hs.commit)) {
      throw corruption(
        file,
        offset,
        `segment ${seq} starts with a hard state that differs from the one before it`,
      );
    }
    this.hardState = hs;
  }

  entry(e: Entry, file: string, offset: number): void {
    if (this.ents.length === 0) {
      this.lo = e.index;
      this.ents.push(e);
      return;
    }
    const next = this.lo + this.ents.length;
    if (e.index < this.lo && e.index <= this.base + 1) {
      // An overwrite reaching below the first replayed entry: the entries it replaced were in a
      // segment reclaimed by compaction. All that matters is after the compaction point, and the
      // log from here on covers it, so the replay restarts here.
      this.lo = e.index;
      this.ents.length = 0;
      this.ents.push(e);
      return;
    }
    if (e.index > next || e.index < this.lo) {
      throw corruption(file, offset, `entry ${e.index} does not continue the log (${this.lo}..${next - 1})`);
    }
    // An index at or below the last one rewrites a conflicting suffix (the leader changed it).
    this.ents.length = e.index - this.lo;
    const prev = this.ents[this.ents.length - 1];
    if (prev && e.term < prev.term) {
      throw corruption(
        file,
        offset,
        `entry ${e.index} has term ${e.term} below the term ${prev.term} before it`,
      );
    }
    this.ents.push(e);
  }

  /** The entries after the compaction point, checked against it. */
  finish(meta: LogMeta, lastFile: string): Entry[] {
    const { index: base, term: baseTerm } = meta.compacted;
    if (this.ents.length === 0) return [];
    const last = this.lo + this.ents.length - 1;
    const fail = (why: string): never => {
      throw new MicroK8sError('MK_DATA_CORRUPTION', `${lastFile}: ${why}`, { file: lastFile });
    };
    if (this.lo > base + 1)
      fail(`the log starts at ${this.lo}, after the compaction point ${base}: entries are missing`);
    if (last < base)
      fail(`the log ends at ${last}, before the compaction point ${base}: entries are missing`);
    if (base >= this.lo && this.ents[base - this.lo]!.term !== baseTerm) {
      fail(`entry ${base} has term ${this.ents[base - this.lo]!.term}, the meta file says ${baseTerm}`);
    }
    const kept = this.ents.slice(base + 1 - this.lo);
    if (kept.length > 0 && kept[0]!.term < baseTerm) {
      fail(`entry ${base + 1} has term ${kept[0]!.term} below the compaction term ${baseTerm}`);
    }
    return kept;
  }
}

export async function recover(dir: string, listing: DirListing, maxRecordBytes: number): Promise<Recovery> {
  const metaPath = join(dir, META_FILE);
  const meta = parseMeta(await readFile(metaPath), metaPath);
  const leftovers = listing.tempFiles.slice();
  const live = listing.segments.filter((seq) => seq >= meta.firstSegment);
  for (const seq of listing.segments) if (seq < meta.firstSegment) leftovers.push(segmentName(seq));
  for (const name of listing.dataFiles) if (name !== meta.data?.file) leftovers.push(name);

  if (meta.data) {
    const path = join(dir, meta.data.file);
    const size = await stat(path).then(
      (s) => s.size,
      () => undefined,
    );
    if (size !== meta.data.bytes) {
      throw new MicroK8sError(
        'MK_DATA_CORRUPTION',
        `${path}: the snapshot data file named in ${META_FILE} is ${size === undefined ? 'missing' : `${size} bytes, expected ${meta.data.bytes}`}`,
        { file: path },
      );
    }
  }

  // The first live segment is always durable before the meta file names it (bootstrap, snapshot
  // install and compaction all write the meta file last), so its absence is never a crash.
  if (live.length === 0) {
    const missing = join(dir, segmentName(meta.firstSegment));
    throw new MicroK8sError('MK_DATA_CORRUPTION', `${missing}: the first segment of the log is missing`, {
      file: missing,
    });
  }
  for (let i = 0; i < live.length; i++) {
    if (live[i] !== meta.firstSegment + i) {
      const missing = join(dir, segmentName(meta.firstSegment + i));
      throw new MicroK8sError(
        'MK_DATA_CORRUPTION',
        `${missing}: segment ${meta.firstSegment + i} is missing`,
        {
          file: missing,
        },
      );
    }
  }

  const replay = new Replay(meta.compacted.index);
  const segments: SegmentInfo[] = [];
  let torn: TornTail | undefined;
  let needsHeader = false;
  for (let i = 0; i < live.length; i++) {
    const seq = live[i]!;
    const isLast = i === live.length - 1;
    const path = join(dir, segmentName(seq));
    const buf = await readFile(path);
    const scan = scanSegment(buf, path, isLast, maxRecordBytes);
    if (scan.torn) {
      torn = {
        file: path,
        seq,
        validBytes: scan.validBytes,
        fileBytes: buf.length,
        reason: scan.torn.reason,
      };
    }
    const info: SegmentInfo = { seq, bytes: scan.validBytes, allocated: scan.fileBytes, maxIndex: 0 };
    segments.push(info);
    if (scan.records.length === 0) {
      // Only a segment created by a roll-over can lack its header: a crash right after it was
      // created, before anything in it was acknowledged. The first live segment's header is
      // durable before the meta file names it.
      if (!isLast) throw corruption(path, 0, 'an empty segment that is not the last one');
      if (i === 0) throw corruption(path, 0, 'the first live segment has no valid header');
      needsHeader = true;
      continue;
    }
    for (const [n, { record, offset }] of scan.records.entries()) {
      if ((n === 0) !== (record.kind === 'header')) {
        throw corruption(
          path,
          offset,
          n === 0 ? 'the segment does not start with a header' : 'a second header',
        );
      }
      if (record.kind === 'header') {
        if (record.seq !== seq) throw corruption(path, offset, `the header says segment ${record.seq}`);
        replay.header(record.seq, record.hardState, path, offset);
      } else if (record.kind === 'hard-state') {
        replay.hardState = record.hardState;
      } else if (record.kind === 'entry') {
        replay.entry(record.entry, path, offset);
        info.maxIndex = Math.max(info.maxIndex, record.entry.index);
      }
    }
  }

  const lastPath = join(dir, segmentName(live[live.length - 1]!));
  const entries = replay.finish(meta, lastPath);
  const hardState = replay.hardState ?? ZERO_HARD_STATE;
  const lastIndex = meta.compacted.index + entries.length;
  if (hardState.commit > lastIndex) {
    throw new MicroK8sError(
      'MK_DATA_CORRUPTION',
      `${lastPath}: the hard state commits ${hardState.commit} but the log ends at ${lastIndex}`,
      { file: lastPath },
    );
  }
  return { meta, hardState, entries, segments, ...(torn ? { torn } : {}), needsHeader, leftovers };
}
