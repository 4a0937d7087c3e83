/**
 * Watch streams over a raw grpc-js client: creation and ids, cancel, filters, prev_kv, replay then
 * live without gap or duplicate under concurrent writes, RequestProgress (watch_id -1, never ahead
 * of the stream's events), periodic progress_notify, fragments, compaction, a slow reader.
 * Single-node LocalBackend (test/etcd/local-backend.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  b,
  call,
  capturingLogger,
  eventually,
  type Harness,
  type RawClients,
  rawClients,
  startHarness,
} from './helpers.js';

interface Kv {
  key: Buffer;
  value: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
  lease: string;
}

interface Resp {
  header: { revision: string };
  watch_id: string;
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  fragment: boolean;
  events: { type: number; kv: Kv; prev_kv: Kv | null }[];
}

let h: Harness;
let c: RawClients;

const PROGRESS_MS = 300;

test.before(async () => {
  h = await startHarness({
    limits: {
      progressNotifyIntervalMs: PROGRESS_MS,
      watchQueueBytes: 64 * 1024,
      watchReplayEvents: 50,
      watchResponseBytes: 4096,
    },
  });
  c = rawClients(h.address);
});

test.after(async () => {
  c.close();
  await h.close();
});

class Session {
  readonly responses: Resp[] = [];
  readonly stream: grpc.ClientDuplexStream<unknown, Resp>;
  error: grpc.ServiceError | undefined;

  constructor() {
    this.stream = c.watch.Watch();
    this.stream.on('data', (r: Resp) => this.responses.push(r));
    this.stream.on('error', (e: grpc.ServiceError) => {
      this.error = e;
    });
  }

  create(req: Record<string, unknown>): void {
    this.stream.write({ create_request: req });
  }

  cancel(id: string): void {
    this.stream.write({ cancel_request: { watch_id: id } });
  }

  progress(): void {
    this.stream.write({ progress_request: {} });
  }

  async next(pred: (r: Resp) => boolean, what: string, timeoutMs = 5000): Promise<Resp> {
    let found: Resp | undefined;
    await eventually(
      () => {
        found = this.responses.find(pred);
        return found !== undefined;
      },
      timeoutMs,
      what,
    );
    return found!;
  }

  events(id: string): Resp['events'] {
    return this.responses.filter((r) => r.watch_id === id).flatMap((r) => r.events);
  }

  close(): void {
    this.stream.cancel();
  }
}

const put = (key: string, value: string) => call(c.kv, 'Put', { key: b(key), value: b(value) });
const rev = () => h.backend.revision();

test('create: auto ids from 0, client-chosen ids, duplicate id, empty range, negative start revision', async () => {
  const s = new Session();
  try {
    s.create({ key: b('a') });
    s.create({ key: b('b') });
    s.create({ key: b('c'), watch_id: 100 });
    s.create({ key: b('d'), watch_id: 100 });
    s.create({ key: b('z'), range_end: b('a') });
    s.create({ key: b('e'), start_revision: -1 });
    await eventually(() => s.responses.length === 6, 5000, 'six answers');
    const [a, bb, cc, dup, empty, negative] = s.responses;
    assert.equal([a!.watch_id, a!.created, a!.canceled], ['0', true, false]);
    assert.is(Number(a!.header.revision), rev());
    assert.equal([bb!.watch_id, cc!.watch_id], ['1', '100']);
    assert.equal(
      [dup!.watch_id, dup!.created, dup!.canceled, dup!.cancel_reason],
      ['-1', true, true, 'mvcc: duplicate watch ID provided on the WatchStream'],
    );
    assert.equal(
      [empty!.watch_id, empty!.canceled, empty!.cancel_reason],
      ['-1', true, 'mvcc: watcher range is empty'],
    );
    assert.equal(
      [negative!.watch_id, negative!.canceled, negative!.cancel_reason],
      ['-1', true, 'mvcc: required revision has been compacted'],
    );
    // Cancel answers; an unknown id answers nothing.
    s.cancel('1');
    s.cancel('12345');
    const canceled = await s.next((r) => r.canceled && r.watch_id === '1', 'cancel');
    assert.is(canceled.created, false);
    await put('b', 'x');
    await put('a', 'y');
    await s.next((r) => r.events.length > 0, 'event on a');
    assert.is(s.events('1').length, 0, 'canceled watcher is silent');
    assert.is(s.responses.filter((r) => r.watch_id === '12345').length, 0);
  } finally {
    s.close();
  }
});

test('ranges: single key, prefix, from-key, all keys; filters and prev_kv', async () => {
  const s = new Session();
  try {
    s.create({ key: b('/r/k') });
    s.create({ key: b('/r/'), range_end: b('/r0') });
    s.create({ key: b('/r/m'), range_end: Buffer.from([0]) });
    s.create({ key: Buffer.alloc(0), range_end: Buffer.from([0]) });
    s.create({ key: b('/r/'), range_end: b('/r0'), filters: [0] }); // NOPUT
    s.create({ key: b('/r/'), range_end: b('/r0'), filters: [1], prev_kv: true }); // NODELETE
    await eventually(() => s.responses.length === 6, 5000, 'created');
    await put('/r/k', '1');
    await put('/r/z', '2');
    await put('/r/k', '3');
    await call(c.kv, 'DeleteRange', { key: b('/r/k') });
    await put('/s', 'outside');
    await eventually(() => s.events('3').length === 5, 5000, 'all-keys watcher');
    const summary = (id: string) =>
      s.events(id).map((e) => `${e.type === 0 ? 'PUT' : 'DEL'} ${e.kv.key} ${e.kv.value}`);
    assert.equal(summary('0'), ['PUT /r/k 1', 'PUT /r/k 3', 'DEL /r/k ']);
    assert.equal(summary('1'), ['PUT /r/k 1', 'PUT /r/z 2', 'PUT /r/k 3', 'DEL /r/k ']);
    assert.equal(summary('2'), ['PUT /r/z 2', 'PUT /s outside']);
    assert.equal(summary('3'), ['PUT /r/k 1', 'PUT /r/z 2', 'PUT /r/k 3', 'DEL /r/k ', 'PUT /s outside']);
    assert.equal(summary('4'), ['DEL /r/k ']);
    assert.equal(summary('5'), ['PUT /r/k 1', 'PUT /r/z 2', 'PUT /r/k 3']);
    assert.is(String(s.events('5')[2]!.prev_kv?.value), '1', 'prev_kv when asked');
    assert.is(s.events('1')[2]!.prev_kv, null, 'no prev_kv unless asked');
    const del = s.events('0')[2]!;
    assert.equal([del.kv.version, del.kv.create_revision], ['0', '0']);
    assert.is(Number(del.kv.mod_revision), Number(s.events('0')[1]!.kv.mod_revision) + 1);
  } finally {
    s.close();
  }
});

test('replay from an old revision hands over to live events with no gap and no duplicate', async () => {
  const start = rev() + 1;
  for (let i = 0; i < 300; i++) await put(`/h/${i % 7}`, String(i));
  const s = new Session();
  try {
    // The replay (50 events per step, see the limits) races 300 more writes.
    s.create({ key: b('/h/'), range_end: b('/h0'), start_revision: start });
    const writer = (async () => {
      for (let i = 300; i < 600; i++) await put(`/h/${i % 7}`, String(i));
    })();
    await writer;
    await eventually(() => s.events('0').length >= 600, 10_000, '600 events');
    await sleep(100);
    const events = s.events('0');
    assert.is(events.length, 600);
    assert.equal(
      events.map((e) => String(e.kv.value)),
      Array.from({ length: 600 }, (_, i) => String(i)),
    );
    const revs = events.map((e) => Number(e.kv.mod_revision));
    for (let i = 1; i < revs.length; i++) assert.is(revs[i], revs[i - 1]! + 1);
    // Responses never announce a revision ahead of their events.
    for (const r of s.responses.filter((x) => x.events.length > 0)) {
      assert.is(Number(r.header.revision), Number(r.events[r.events.length - 1]!.kv.mod_revision));
    }
  } finally {
    s.close();
  }
});

test('a start revision in the future delivers from that revision on', async () => {
  const s = new Session();
  try {
    const from = rev() + 3;
    s.create({ key: b('/f'), start_revision: from });
    await s.next((r) => r.created, 'created');
    for (let i = 0; i < 5; i++) await put('/f', String(i));
    await eventually(() => s.events('0').length === 3, 5000, 'three events');
    assert.equal(
      s.events('0').map((e) => Number(e.kv.mod_revision)),
      [from, from + 1, from + 2],
    );
  } finally {
    s.close();
  }
});

test('RequestProgress: watch_id -1, never ahead of the events of the stream, deferred during replay', async () => {
  const s = new Session();
  try {
    // No watchers: etcd answers nothing.
    s.progress();
    await sleep(100);
    assert.is(s.responses.length, 0);
    const start = rev() + 1;
    for (let i = 0; i < 400; i++) await put('/p/k', String(i));
    s.create({ key: b('/p/'), range_end: b('/p0'), start_revision: start });
    s.create({ key: b('/p/other') });
    // Ask for progress while the first watcher replays and writes go on.
    let writing = true;
    const writer = (async () => {
      let i = 0;
      while (writing) await put(i++ % 2 ? '/p/k' : '/q/unwatched', 'w');
    })();
    for (let i = 0; i < 20; i++) {
      s.progress();
      await sleep(10);
    }
    writing = false;
    await writer;
    const final = rev();
    s.progress();
    await eventually(
      () => s.responses.some((r) => r.watch_id === '-1' && Number(r.header.revision) >= final),
      5000,
      'a progress response at the final revision',
    );
    // Walk the stream in order: a progress revision is >= every event before it and < every one after.
    let maxSeen = 0;
    let lastProgress = 0;
    let progressCount = 0;
    for (const r of s.responses) {
      if (r.watch_id === '-1') {
        assert.is(r.events.length, 0);
        assert.not.ok(r.created || r.canceled);
        const p = Number(r.header.revision);
        assert.ok(p >= maxSeen, `progress ${p} behind event ${maxSeen}`);
        assert.ok(p >= lastProgress);
        lastProgress = p;
        progressCount++;
      }
      for (const e of r.events) {
        const m = Number(e.kv.mod_revision);
        assert.ok(m > lastProgress, `event ${m} at or below an announced progress ${lastProgress}`);
        maxSeen = Math.max(maxSeen, m);
      }
    }
    assert.ok(progressCount >= 1);
    assert.is(s.events('0').length, 400 + s.events('0').filter((e) => String(e.kv.value) === 'w').length);
  } finally {
    s.close();
  }
});

test('progress_notify: periodic responses with the watch id while quiet, none while events flow', async () => {
  const s = new Session();
  try {
    s.create({ key: b('/pn'), progress_notify: true });
    s.create({ key: b('/pn-silent') });
    await eventually(() => s.responses.length === 2, 5000, 'created');
    await s.next(
      (r) => r.watch_id === '0' && !r.created && r.events.length === 0,
      'first progress notification',
      PROGRESS_MS * 5,
    );
    const quiet = s.responses.filter((r) => r.watch_id === '0' && !r.created && r.events.length === 0);
    assert.is(Number(quiet[0]!.header.revision), rev());
    assert.is(
      s.responses.filter((r) => r.watch_id === '1' && !r.created).length,
      0,
      'only watchers that asked',
    );
    // Events in every interval: no progress notification in between.
    const count = () =>
      s.responses.filter((r) => r.watch_id === '0' && !r.created && r.events.length === 0).length;
    await sleep(PROGRESS_MS); // let a pending tick pass
    const before = count();
    const end = Date.now() + PROGRESS_MS * 4;
    while (Date.now() < end) {
      await put('/pn', 'x');
      await sleep(PROGRESS_MS / 6);
    }
    assert.ok(
      count() - before <= 1,
      `at most one notification around the change of pace, got ${count() - before}`,
    );
  } finally {
    s.close();
  }
});

test('fragment: a large revision is split when asked, whole otherwise', async () => {
  const value = Buffer.alloc(400 * 1024, 7);
  const success = Array.from({ length: 6 }, (_, i) => ({ request_put: { key: b(`/frag/${i}`), value } }));
  // Two txns (a request is at most 1.5 MiB); the delete of all six is one 2.4 MiB revision with prev_kv.
  await call(c.kv, 'Txn', { success: success.slice(0, 3) });
  await call(c.kv, 'Txn', { success: success.slice(3) });
  const s = new Session();
  try {
    s.create({ key: b('/frag/'), range_end: b('/frag0'), fragment: true, prev_kv: true });
    s.create({ key: b('/frag/'), range_end: b('/frag0'), prev_kv: true });
    await eventually(() => s.responses.length === 2, 5000, 'created');
    await call(c.kv, 'DeleteRange', { key: b('/frag/'), range_end: b('/frag0') });
    await eventually(() => s.events('0').length === 6 && s.events('1').length === 6, 5000, 'all events');
    const whole = s.responses.filter((r) => r.watch_id === '1' && r.events.length > 0);
    assert.is(whole.length, 1, 'one response for the revision without fragment');
    assert.not.ok(whole[0]!.fragment);
    const parts = s.responses.filter((r) => r.watch_id === '0' && r.events.length > 0);
    assert.ok(parts.length >= 2, `fragments: ${parts.length}`);
    assert.ok(
      parts.slice(0, -1).every((r) => r.fragment),
      'fragment flag on all but the last part',
    );
    assert.not.ok(parts[parts.length - 1]!.fragment);
    assert.ok(parts.every((r) => r.header.revision === parts[0]!.header.revision));
    assert.equal(
      s.events('0').map((e) => String(e.kv.key)),
      s.events('1').map((e) => String(e.kv.key)),
    );
    assert.ok(s.events('0').every((e) => e.prev_kv?.value.length === value.length));
  } finally {
    s.close();
  }
});

test('compaction: a watch below it gets created, then canceled with the compact revision', async () => {
  const r1 = Number((await put('/cw', '1')).header.revision);
  await put('/cw', '2');
  const r3 = Number((await put('/cw', '3')).header.revision);
  await call(c.kv, 'Compact', { revision: r3 });
  const s = new Session();
  try {
    s.create({ key: b('/cw'), start_revision: r1 });
    const canceled = await s.next((r) => r.canceled, 'canceled');
    assert.ok(s.responses[0]!.created, 'created first');
    assert.equal([canceled.watch_id, canceled.compact_revision], ['0', String(r3)]);
    s.create({ key: b('/cw'), start_revision: r3 + 1 });
    await s.next((r) => r.created && r.watch_id === '1', 'created above the compaction');
    await put('/cw', '4');
    await eventually(() => s.events('1').length === 1, 5000, 'event');
  } finally {
    s.close();
  }
});

test('a slow reader: the stream falls back to history and still delivers every event in order', async () => {
  const capture = capturingLogger();
  const own = await startHarness({
    logger: capture.logger,
    limits: { watchQueueBytes: 64 * 1024, watchReplayEvents: 50, watchResponseBytes: 4096 },
  });
  const slow = rawClients(own.address, grpc.credentials.createInsecure(), {
    'grpc.http2.lookahead_bytes': 0,
  } as grpc.ChannelOptions);
  const stream = slow.watch.Watch();
  const got: Resp[] = [];
  stream.on('error', () => {});
  stream.write({ create_request: { key: b('/slow/'), range_end: b('/slow0') } });
  await new Promise((resolve) => stream.once('data', resolve));
  stream.pause();
  try {
    const value = 'v'.repeat(2048);
    for (let i = 0; i < 600; i++)
      await call(slow.kv, 'Put', { key: b(`/slow/${i % 5}`), value: b(`${i}:${value}`) });
    stream.on('data', (r: Resp) => got.push(r));
    stream.resume();
    await eventually(() => got.flatMap((r) => r.events).length >= 600, 15_000, 'all slow events');
    const events = got.flatMap((r) => r.events);
    assert.is(events.length, 600);
    assert.equal(
      events.map((e) => String(e.kv.value).split(':')[0]),
      Array.from({ length: 600 }, (_, i) => String(i)),
    );
    assert.ok(
      capture.lines.some((l) => l.includes('watch stream congested')),
      'the congestion path was taken',
    );
  } finally {
    stream.cancel();
    slow.close();
    await own.close();
  }
});

test('a half-closed stream keeps receiving events', async () => {
  const s = new Session();
  try {
    s.create({ key: b('/half') });
    await s.next((r) => r.created, 'created');
    s.stream.end();
    await put('/half', 'x');
    await eventually(() => s.events('0').length === 1, 5000, 'event after half-close');
  } finally {
    s.close();
  }
});

test('the stream is robust to cancel storms and many watchers', async () => {
  const s = new Session();
  try {
    for (let i = 0; i < 200; i++) s.create({ key: b(`/many/${i}`), start_revision: i % 3 === 0 ? 0 : rev() });
    await eventually(() => s.responses.filter((r) => r.created).length === 200, 5000, '200 created');
    for (let i = 0; i < 200; i += 2) s.cancel(String(i));
    await eventually(() => s.responses.filter((r) => r.canceled).length === 100, 5000, '100 canceled');
    await put('/many/1', 'x');
    await put('/many/2', 'x');
    await eventually(() => s.events('1').length === 1, 5000, 'odd watcher event');
    assert.is(s.events('2').length, 0);
    assert.is(s.error, undefined);
  } finally {
    s.close();
  }
});

test.run();
