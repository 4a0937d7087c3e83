/**
 * One Watch stream: many watchers, each on a key, a prefix or a range, from a start revision.
 *
 * A watcher is either catching up (replaying history) or live (fed by the apply path). Every
 * watcher keeps `nextRev`, the first revision it has not handed to the stream yet; a revision is
 * sent only if it is >= nextRev, so nothing is sent twice, and nextRev only moves past a revision
 * once that revision's matching events are queued, so nothing is skipped.
 *
 * The handoff from history to live events: the stream is subscribed to the backend for its whole
 * life. A catching-up watcher first starts buffering the live revisions it matches, then reads
 * history from nextRev. Every revision applied before that read is in history (a revision is in
 * history once revision() covers it), every revision applied after it reaches the buffer, so the
 * two together leave no gap; the buffer is then drained from nextRev on and the watcher turns live.
 * A buffer that grows past its limit is dropped and the read repeated, so memory stays bounded.
 *
 * A slow client: responses are queued on the stream; past a byte budget the stream is congested
 * and its live watchers fall back to catching up, which waits for the queue to drain and reads
 * history in steps. A client that stops reading and keeps sending requests (each answered)
 * reaches a second, higher budget and is cut off (RESOURCE_EXHAUSTED), as is one that opens too
 * many watchers on a stream or a connection. A compaction that overtakes a catching-up watcher cancels it with the
 * compact revision, as etcd does.
 *
 * Progress: a RequestProgress is answered (watch_id -1) only when every watcher of the stream is
 * live and past the progress revision, so the revision it announces is never ahead of an event the
 * stream has yet to send; until then it is deferred. Watchers created with progress_notify get a
 * progress response (their own watch_id) each interval in which they sent no event.
 */

import { isMicroK8sError, MicroK8sError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { RateLimitedLog } from '../../lib/rate-limited-log.js';
import type { RevisionEvents, WatchEvent } from '../state/types.js';
import type { EtcdBackend, EtcdHeaderInfo } from './backend.js';
import { eventBytes, headerOut, int64 } from './convert.js';
import { ETCD_ERRORS, type EtcdErrorSpec, mapError, toServiceError, WATCH_CANCEL_REASONS } from './errors.js';
import { type ServerDuplexCall, Status } from './grpc/index.js';
import type { EtcdServerLimits } from './limits.js';
import type { OutWatchResponse, WireWatchCreateRequest, WireWatchRequest } from './proto.js';
import { encodeWatchEvents } from './wire.js';

const ZERO = new Uint8Array([0]);
const FILTER_NOPUT = 0;
const FILTER_NODELETE = 1;
/** etcd's InvalidWatchID: failed creates and stream-wide progress responses carry it. */
const INVALID_WATCH_ID = '-1';
/** Bytes of a response without events, for the queue budget. */
const CONTROL_BYTES = 64;

type WatchState = 'catchup' | 'live' | 'done';

interface Watcher {
  readonly id: string;
  readonly key: Uint8Array;
  /** undefined: the single key; ZERO: every key >= key; otherwise [key, end). */
  readonly end: Uint8Array | undefined;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly progressNotify: boolean;
  readonly fragment: boolean;
  nextRev: number;
  state: WatchState;
  /** Live revisions matched while catching up; undefined when not buffering. */
  buffer: RevisionEvents[] | undefined;
  bufferedEvents: number;
  /** No event sent since the last progress tick. */
  quiet: boolean;
}

export type WatchCall = ServerDuplexCall<WireWatchRequest, OutWatchResponse | Buffer>;

export interface WatchStreamContext {
  readonly backend: EtcdBackend;
  readonly limits: EtcdServerLimits;
  readonly logger: Logger;
  /** Watchers open on the stream's connection, all its streams together (kept up to date here). */
  readonly connectionWatchers: { count: number };
  /** Lines about limits hit (one per interval and limit). */
  readonly limitLog: RateLimitedLog;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

function isZero(bytes: Uint8Array): boolean {
  return bytes.byteLength === 1 && bytes[0] === 0;
}

function matches(w: Watcher, key: Uint8Array): boolean {
  if (w.end === undefined) return compareBytes(key, w.key) === 0;
  if (compareBytes(key, w.key) < 0) return false;
  return w.end === ZERO || compareBytes(key, w.end) < 0;
}

function passesFilters(w: Watcher, ev: WatchEvent): boolean {
  return !((ev.type === 'put' && w.noPut) || (ev.type === 'delete' && w.noDelete));
}

/** Responses with events are encoded here (wire.ts); the server's serializer passes them through. */
type Response = OutWatchResponse | Buffer;

interface Queued {
  readonly response: Response;
  readonly bytes: number;
}

export class WatchStream {
  private readonly watchers = new Map<string, Watcher>();
  private nextAutoId = 0n;
  private readonly unsubscribe: () => void;
  private closed = false;

  private readonly queue: Queued[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private waitingDrain = false;
  private congested = false;
  private roomWaiters: (() => void)[] = [];

  private progressWanted = false;
  private progressRunning = false;
  private progressTimer: NodeJS.Timeout | undefined;

  private readonly backend: EtcdBackend;
  private readonly limits: EtcdServerLimits;
  private readonly logger: Logger;
  private readonly connectionWatchers: { count: number };
  private readonly limitLog: RateLimitedLog;

  constructor(
    private readonly call: WatchCall,
    ctx: WatchStreamContext,
    private readonly onClose: (stream: WatchStream) => void,
  ) {
    this.backend = ctx.backend;
    this.limits = ctx.limits;
    this.logger = ctx.logger;
    this.connectionWatchers = ctx.connectionWatchers;
    this.limitLog = ctx.limitLog;
    this.unsubscribe = this.backend.subscribe((batch) => this.onBatch(batch));
    call.on('data', (req: WireWatchRequest) => this.onRequest(req));
    // A client that half-closes still gets its events (as with etcd) until it cancels.
    call.on('end', () => {});
    call.on('cancelled', () => this.close());
    call.on('error', () => this.close());
    call.on('close', () => this.close());
    call.on('drain', () => this.flush());
  }

  /** Watchers on this stream (for tests and status). */
  get size(): number {
    return this.watchers.size;
  }

  /**
   * End the stream from the server side with an etcd error: "server stopped" on stop, "no leader"
   * when a stream that requires a leader outlives it. Clients retry, possibly elsewhere.
   */
  end(reason: EtcdErrorSpec = ETCD_ERRORS.stopped): void {
    if (this.closed) return;
    this.close();
    try {
      this.call.emit('error', toServiceError(reason));
    } catch {
      // The call may already be gone.
    }
  }

  /**
   * A limit is hit: the stream ends at once with RESOURCE_EXHAUSTED (what a gRPC server answers
   * when a client exhausts a resource), its queued responses dropped. Its client may reconnect.
   */
  private cutOff(limit: keyof EtcdServerLimits, message: string): void {
    if (this.closed) return;
    const details = `etcdserver: ${message} (limit ${limit}=${this.limits[limit]})`;
    this.limitLog.warn(`watch:${limit}`, 'watch stream cut off', {
      error: new MicroK8sError('MK_LIMIT_EXCEEDED', details, { limit: `etcd.${limit}` }),
      watchers: this.watchers.size,
      queuedBytes: this.queuedBytes,
    });
    this.close();
    const status = { code: Status.RESOURCE_EXHAUSTED, details };
    try {
      if (this.call.cutOff) this.call.cutOff(status);
      else this.call.emit('error', status);
    } catch {
      // The call may already be gone.
    }
  }

  private removeWatcher(w: Watcher): void {
    w.state = 'done';
    if (this.watchers.delete(w.id)) this.connectionWatchers.count--;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    if (this.progressTimer) clearInterval(this.progressTimer);
    for (const w of this.watchers.values()) w.state = 'done';
    this.connectionWatchers.count -= this.watchers.size;
    this.watchers.clear();
    this.queue.length = 0;
    this.queueHead = 0;
    this.queuedBytes = 0;
    this.wakeRoomWaiters();
    this.onClose(this);
  }

  // ---------------------------------------------------------------- requests

  private onRequest(req: WireWatchRequest): void {
    if (this.closed) return;
    try {
      switch (req.request_union) {
        case 'create_request':
          if (req.create_request) this.create(req.create_request);
          break;
        case 'cancel_request':
          if (req.cancel_request) this.cancel(int64(req.cancel_request.watch_id).toString());
          break;
        case 'progress_request':
          this.progressWanted = true;
          void this.tryProgress();
          break;
        default:
          // As etcd: an unknown request does not end the stream.
          break;
      }
    } catch (error) {
      const { spec, unexpected } = mapError(error);
      if (unexpected) this.logger.error('watch request failed', { error });
      else this.logger.debug('watch request refused', { reason: spec.message });
    }
  }

  private header(revision?: number) {
    const h = this.backend.header();
    return headerOut(h, revision ?? h.revision);
  }

  private refuseCreate(reason: string): void {
    this.send(
      {
        header: this.header(),
        watch_id: INVALID_WATCH_ID,
        created: true,
        canceled: true,
        cancel_reason: reason,
      },
      CONTROL_BYTES,
    );
  }

  private create(req: WireWatchCreateRequest): void {
    // etcd: an empty key is the smallest key, "\0".
    const key = req.key && req.key.byteLength > 0 ? new Uint8Array(req.key) : ZERO;
    let end: Uint8Array | undefined;
    if (req.range_end && req.range_end.byteLength > 0) {
      end = isZero(req.range_end) ? ZERO : new Uint8Array(req.range_end);
      if (end !== ZERO && compareBytes(key, end) >= 0) {
        this.refuseCreate(WATCH_CANCEL_REASONS.emptyRange);
        return;
      }
    }
    const start = int64(req.start_revision);
    if (start < 0n) {
      this.refuseCreate(WATCH_CANCEL_REASONS.compacted);
      return;
    }
    let id: string;
    const requested = int64(req.watch_id);
    if (requested !== 0n) {
      id = requested.toString();
      if (this.watchers.has(id)) {
        this.refuseCreate(WATCH_CANCEL_REASONS.duplicateId);
        return;
      }
    } else {
      while (this.watchers.has(this.nextAutoId.toString())) this.nextAutoId++;
      id = this.nextAutoId.toString();
      this.nextAutoId++;
    }
    const current = this.backend.revision();
    const nextRev =
      start === 0n
        ? current + 1
        : start > BigInt(Number.MAX_SAFE_INTEGER)
          ? Number.MAX_SAFE_INTEGER
          : Number(start);
    if (this.watchers.size >= this.limits.maxWatchersPerStream) {
      this.cutOff('maxWatchersPerStream', `too many watchers on one watch stream`);
      return;
    }
    if (this.connectionWatchers.count >= this.limits.maxWatchersPerConnection) {
      this.cutOff('maxWatchersPerConnection', `too many watchers on one connection`);
      return;
    }
    const filters = req.filters ?? [];
    const w: Watcher = {
      id,
      key,
      end,
      prevKv: Boolean(req.prev_kv),
      noPut: filters.includes(FILTER_NOPUT),
      noDelete: filters.includes(FILTER_NODELETE),
      progressNotify: Boolean(req.progress_notify),
      fragment: Boolean(req.fragment),
      nextRev,
      state: nextRev > current ? 'live' : 'catchup',
      buffer: undefined,
      bufferedEvents: 0,
      quiet: true,
    };
    this.watchers.set(id, w);
    this.connectionWatchers.count++;
    this.send({ header: this.header(current), watch_id: id, created: true }, CONTROL_BYTES);
    if (w.progressNotify) this.startProgressTimer();
    if (w.state === 'catchup') void this.catchUp(w);
  }

  private cancel(id: string): void {
    const w = this.watchers.get(id);
    if (!w) return; // etcd answers nothing for an unknown id
    this.removeWatcher(w);
    this.send({ header: this.header(), watch_id: id, canceled: true }, CONTROL_BYTES);
    void this.tryProgress();
  }

  // ---------------------------------------------------------------- events

  private select(w: Watcher, events: readonly WatchEvent[]): WatchEvent[] {
    const out: WatchEvent[] = [];
    for (const ev of events) if (matches(w, ev.kv.key) && passesFilters(w, ev)) out.push(ev);
    return out;
  }

  private onBatch(batch: RevisionEvents): void {
    if (this.closed) return;
    try {
      for (const w of this.watchers.values()) {
        if (w.state === 'live') {
          if (batch.revision < w.nextRev) continue;
          if (this.congested) {
            // The client reads too slowly: stop queueing, continue from history once it drains.
            w.state = 'catchup';
            w.buffer = undefined;
            void this.catchUp(w);
            continue;
          }
          const selected = this.select(w, batch.events);
          w.nextRev = batch.revision + 1;
          if (selected.length > 0) this.sendEvents(w, selected, batch.revision);
        } else if (w.state === 'catchup' && w.buffer !== undefined) {
          const matched = batch.events.filter((ev) => matches(w, ev.kv.key));
          if (matched.length === 0) continue;
          w.buffer.push({ revision: batch.revision, events: matched });
          w.bufferedEvents += matched.length;
          if (w.bufferedEvents > this.limits.watchBufferEvents) {
            w.buffer = undefined;
            w.bufferedEvents = 0;
          }
        }
      }
    } catch (error) {
      this.logger.error('watch stream failed to handle a revision', { revision: batch.revision, error });
    }
  }

  /** One live revision: one response, fragmented if asked and large. */
  private sendEvents(w: Watcher, events: WatchEvent[], revision: number): void {
    w.quiet = false;
    let bytes = CONTROL_BYTES;
    for (const ev of events) bytes += eventBytes(ev, w.prevKv);
    const header = this.backend.header();
    if (w.fragment && events.length > 1 && bytes >= this.limits.maxRequestBytes) {
      this.sendFragments(w, events, header, revision);
      return;
    }
    this.send(encodeWatchEvents(header, revision, w.id, events, w.prevKv, false), bytes);
  }

  /** etcd's sendFragments: fill each fragment up to the request size, the last one unflagged. */
  private sendFragments(w: Watcher, events: WatchEvent[], header: EtcdHeaderInfo, revision: number): void {
    let i = 0;
    while (i < events.length) {
      const start = i;
      let bytes = CONTROL_BYTES;
      while (i < events.length) {
        const size = eventBytes(events[i]!, w.prevKv);
        if (i > start && bytes + size >= this.limits.maxRequestBytes) break;
        bytes += size;
        i++;
      }
      const part = events.slice(start, i);
      this.send(encodeWatchEvents(header, revision, w.id, part, w.prevKv, i < events.length), bytes);
    }
  }

  /** Replay from w.nextRev, then hand over to live delivery. */
  private async catchUp(w: Watcher): Promise<void> {
    try {
      while (w.state === 'catchup' && !this.closed) {
        await this.room();
        if (w.state !== 'catchup' || this.closed) return;
        if (w.buffer === undefined) {
          w.buffer = [];
          w.bufferedEvents = 0;
        }
        const covered = this.backend.revision();
        const { events, more } = this.backend.history(w.nextRev, w.key, w.end, this.limits.watchReplayEvents);
        this.sendReplay(w, events);
        if (more) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          continue;
        }
        w.nextRev = Math.max(w.nextRev, covered + 1);
        // The buffer overflowed during this read: read again with a fresh buffer.
        if (w.buffer === undefined) continue;
        const buffered = w.buffer;
        w.buffer = undefined;
        w.bufferedEvents = 0;
        this.sendReplay(w, buffered);
        w.state = 'live';
        void this.tryProgress();
        return;
      }
    } catch (error) {
      if (w.state !== 'catchup' || this.closed) return;
      try {
        this.failWatcher(w, error);
      } catch (failure) {
        // The backend is going away (stopped): nothing more to tell this client.
        this.logger.warn('watch replay failed and could not be reported', { watchId: w.id, error: failure });
      }
    }
  }

  /** Whole revisions from nextRev on, several per response up to the response size. */
  private sendReplay(w: Watcher, revisions: readonly RevisionEvents[]): void {
    let pending: WatchEvent[] = [];
    let pendingRevision = 0;
    let bytes = 0;
    const flush = () => {
      if (pending.length === 0) return;
      this.sendEvents(w, pending, pendingRevision);
      pending = [];
      bytes = 0;
    };
    for (const rev of revisions) {
      if (rev.revision < w.nextRev) continue;
      const selected = rev.events.filter((ev) => matches(w, ev.kv.key) && passesFilters(w, ev));
      w.nextRev = rev.revision + 1;
      if (selected.length === 0) continue;
      for (const ev of selected) bytes += eventBytes(ev, w.prevKv);
      pending.push(...selected);
      pendingRevision = rev.revision;
      if (bytes >= this.limits.watchResponseBytes) flush();
    }
    flush();
  }

  private failWatcher(w: Watcher, error: unknown): void {
    this.removeWatcher(w);
    if (isMicroK8sError(error, 'MK_COMPACTED')) {
      // As etcd: header revision 0 and compact_revision set. The reason is ours (etcd leaves it
      // empty); clientv3 reads compact_revision first, the etcd3 npm client shows the reason.
      this.send(
        {
          header: this.header(0),
          watch_id: w.id,
          canceled: true,
          compact_revision: this.backend.compactRevision(),
          cancel_reason: WATCH_CANCEL_REASONS.compacted,
        },
        CONTROL_BYTES,
      );
    } else {
      const { spec, unexpected } = mapError(error);
      if (unexpected) this.logger.error('watch replay failed', { watchId: w.id, error });
      this.send(
        { header: this.header(), watch_id: w.id, canceled: true, cancel_reason: spec.message },
        CONTROL_BYTES,
      );
    }
    void this.tryProgress();
  }

  // ---------------------------------------------------------------- progress

  private allCaughtUp(revision: number): boolean {
    for (const w of this.watchers.values()) if (w.state !== 'live' || w.nextRev <= revision) return false;
    return true;
  }

  /** Answer a pending RequestProgress if every watcher is live; otherwise it stays pending. */
  private async tryProgress(): Promise<void> {
    if (!this.progressWanted || this.progressRunning || this.closed) return;
    // etcd answers a progress request only on behalf of watchers; with none, nothing is sent.
    if (this.watchers.size === 0) {
      this.progressWanted = false;
      return;
    }
    for (const w of this.watchers.values()) if (w.state !== 'live') return;
    this.progressRunning = true;
    try {
      const revision = await this.backend.progressRevision();
      if (this.closed || !this.progressWanted) return;
      if (this.allCaughtUp(revision)) {
        this.progressWanted = false;
        this.send({ header: this.header(revision), watch_id: INVALID_WATCH_ID }, CONTROL_BYTES);
      }
    } catch (error) {
      this.logger.debug('progress revision unavailable', { error });
    } finally {
      this.progressRunning = false;
    }
    // A watcher fell behind meanwhile: it retries when that watcher is live again.
  }

  private startProgressTimer(): void {
    if (this.progressTimer) return;
    this.progressTimer = setInterval(() => void this.onProgressTick(), this.limits.progressNotifyIntervalMs);
    this.progressTimer.unref();
  }

  private async onProgressTick(): Promise<void> {
    try {
      await this.notifyProgress();
    } catch (error) {
      this.logger.warn('progress notification failed', { error });
    }
  }

  private async notifyProgress(): Promise<void> {
    const due: Watcher[] = [];
    for (const w of this.watchers.values()) {
      if (!w.progressNotify) continue;
      if (w.quiet && w.state === 'live') due.push(w);
      w.quiet = true;
    }
    if (due.length === 0 || this.closed) return;
    let revision: number;
    try {
      revision = await this.backend.progressRevision();
    } catch (error) {
      this.logger.debug('progress revision unavailable', { error });
      return;
    }
    for (const w of due) {
      if (this.closed || this.watchers.get(w.id) !== w || w.state !== 'live' || w.nextRev <= revision)
        continue;
      this.send({ header: this.header(revision), watch_id: w.id }, CONTROL_BYTES);
    }
  }

  // ---------------------------------------------------------------- output queue

  private send(response: Response, bytes: number): void {
    if (this.closed) return;
    if (!this.waitingDrain && this.queueHead === this.queue.length) {
      this.write(response);
      return;
    }
    this.queue.push({ response, bytes });
    this.queuedBytes += bytes;
    if (this.queuedBytes > this.limits.watchStreamMaxQueuedBytes) {
      this.cutOff('watchStreamMaxQueuedBytes', 'the watch stream’s client does not read its responses');
      return;
    }
    if (!this.congested && this.queuedBytes > this.limits.watchQueueBytes) {
      this.congested = true;
      this.logger.debug('watch stream congested: live watchers fall back to history', {
        queuedBytes: this.queuedBytes,
      });
    }
  }

  private write(response: Response): void {
    try {
      if (!this.call.write(response)) this.waitingDrain = true;
    } catch (error) {
      this.logger.warn('watch response could not be sent', { error });
      this.close();
    }
  }

  private flush(): void {
    this.waitingDrain = false;
    while (!this.closed && !this.waitingDrain && this.queueHead < this.queue.length) {
      const next = this.queue[this.queueHead]!;
      this.queue[this.queueHead] = undefined as unknown as Queued;
      this.queueHead++;
      this.queuedBytes -= next.bytes;
      this.write(next.response);
    }
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
      this.queuedBytes = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    if (this.queuedBytes <= this.limits.watchQueueBytes / 2) this.congested = false;
    if (!this.waitingDrain && this.queuedBytes === 0) this.wakeRoomWaiters();
  }

  private wakeRoomWaiters(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once everything queued has been handed to gRPC (or the stream closed). */
  private room(): Promise<void> {
    if (this.closed || (!this.waitingDrain && this.queuedBytes === 0)) return Promise.resolve();
    return new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }
}
