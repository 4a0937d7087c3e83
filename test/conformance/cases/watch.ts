/**
 * Watches: live events with prev_kv (etcd3 client), replay from a start revision including a
 * delete (raw stream), NOPUT/NODELETE filters, cancel, client-chosen ids, RequestProgress, and a
 * watch opened on a follower seeing writes made through another member.
 */
import type { Watcher } from 'etcd3';
import { type Duplex, rawClient, watchStream } from '../grpc.js';
import type { Case, Ctx } from '../harness.js';
import { b, FILTER, kvOf, type Msg } from './util.js';

const WAIT_MS = 5000;

/** Responses of an etcd3 Watcher until `events` events arrived (bounded). */
function collector(w: Watcher): { responses: Msg[]; wait(events: number): Promise<Msg[]> } {
  const responses: Msg[] = [];
  let waiter: (() => void) | undefined;
  w.on('data', (res: Msg) => {
    responses.push(res);
    waiter?.();
  });
  const count = () => responses.reduce((n, r) => n + (r.events?.length ?? 0), 0);
  return {
    responses,
    async wait(events: number) {
      const deadline = Date.now() + WAIT_MS;
      while (count() < events && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          waiter = resolve;
          setTimeout(resolve, Math.max(1, deadline - Date.now()));
        });
      }
      return responses;
    },
  };
}

/** The events of watch responses, flattened (how a client sees them, whatever the grouping). */
function eventsOf(responses: Msg[]): Msg[] {
  return responses.flatMap((r) => r.events ?? []);
}

/** Read raw watch responses until `events` events (and at least one response) came, bounded. */
async function readEvents(w: Duplex, events: number): Promise<Msg[]> {
  const out: Msg[] = [];
  const deadline = Date.now() + WAIT_MS;
  while (eventsOf(out).length < events) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const m = await w.next(left);
    if (m === undefined) break;
    out.push(m);
  }
  return out;
}

/** A raw watch response without the parts that differ by design of the client (none) — as is. */
function created(ctx: Ctx, label: string, m: Msg): void {
  ctx.record(label, m ?? '(no response)');
}

export const watchCases: Case[] = [
  {
    id: 'watch-live',
    name: 'watch: live events with prev_kv through the etcd3 client (put, update, txn of two puts, delete)',
    async run(ctx) {
      const kv = kvOf(ctx);
      const watcher = await ctx.c.watch().prefix(ctx.prefix).withPreviousKV().create();
      try {
        const got = collector(watcher);
        await ctx.must('put a 1', kv.put({ key: ctx.key('a'), value: b('1') }));
        await ctx.must('put a 2', kv.put({ key: ctx.key('a'), value: b('2') }));
        await ctx.must(
          'txn of two puts',
          kv.txn({
            compare: [],
            success: [
              { request_put: { key: ctx.key('b'), value: b('x') } },
              { request_put: { key: ctx.key('c'), value: b('y') } },
            ],
            failure: [],
          }),
        );
        await ctx.must('delete a', kv.deleteRange({ key: ctx.key('a') }));
        await ctx.must('delete prefix', kv.deleteRange({ key: ctx.key(), range_end: ctx.prefixEnd() }));
        const responses = await got.wait(7);
        ctx.record('events', eventsOf(responses));
        // One response per revision for a live watcher.
        ctx.note(
          'events per response',
          responses.map((r) => r.events.length),
        );
      } finally {
        await watcher.cancel();
      }
    },
  },
  {
    id: 'watch-replay',
    name: 'watch: replay from a start revision including a delete with prev_kv, then live; single key; cancel',
    async run(ctx) {
      const kv = kvOf(ctx);
      // Revisions: @1..@5 here, @6 put c, @7 put a v4, @8..@10 put f.
      await ctx.must('put a v1', kv.put({ key: ctx.key('a'), value: b('v1') })); // @1
      await ctx.must('put a v2', kv.put({ key: ctx.key('a'), value: b('v2') })); // @2
      await ctx.must('put b', kv.put({ key: ctx.key('b'), value: b('x') })); // @3
      await ctx.must('delete a', kv.deleteRange({ key: ctx.key('a') })); // @4
      await ctx.must('put a v3', kv.put({ key: ctx.key('a'), value: b('v3') })); // @5
      await ctx.settled(ctx.abs(5));
      const w = watchStream(ctx.raw);
      try {
        w.write({
          create_request: {
            key: ctx.key(),
            range_end: ctx.prefixEnd(),
            start_revision: ctx.abs(1),
            prev_kv: true,
          },
        });
        created(ctx, 'prefix from @1: created', await w.next(WAIT_MS));
        const replay = await readEvents(w, 5);
        ctx.record('prefix from @1: replayed events', eventsOf(replay));
        ctx.note('prefix from @1: responses', replay.length);
        ctx.record('prefix from @1: last response header', replay.at(-1)?.header);
        await ctx.must('put c (live)', kv.put({ key: ctx.key('c'), value: b('live') }));
        ctx.record('prefix from @1: live', await readEvents(w, 1));
        // A single key from the delete's revision, without prev_kv.
        w.write({ create_request: { key: ctx.key('a'), start_revision: ctx.abs(4), watch_id: 0 } });
        created(ctx, 'a from @4: created', await w.next(WAIT_MS));
        ctx.record('a from @4: events', eventsOf(await readEvents(w, 2)));
        // Cancel the prefix watcher: a later write reaches only the watcher of "a".
        w.write({ cancel_request: { watch_id: 0 } });
        ctx.record('cancel watcher 0', await w.next(WAIT_MS));
        w.write({ cancel_request: { watch_id: 99 } });
        ctx.record('cancel an unknown watcher (nothing comes)', await w.drain(300));
        await ctx.must('put a v4', kv.put({ key: ctx.key('a'), value: b('v4') }));
        ctx.record('after cancel: only watcher of a', await readEvents(w, 1));
        // A start revision in the future: nothing until that revision is written.
        w.write({ create_request: { key: ctx.key('f'), start_revision: ctx.abs(10) } });
        created(ctx, 'f from @10 (future): created', await w.next(WAIT_MS));
        await ctx.must('put f @8', kv.put({ key: ctx.key('f'), value: b('8') }));
        await ctx.must('put f @9', kv.put({ key: ctx.key('f'), value: b('9') }));
        await ctx.must('put f @10', kv.put({ key: ctx.key('f'), value: b('10') }));
        ctx.record('f from @10: events', eventsOf(await readEvents(w, 1)));
        ctx.record('f from @10: nothing more', await w.drain(200));
      } finally {
        w.close();
      }
      await ctx.ctl(
        'etcdctl watch --rev @1 --prefix --prev-kv (bounded)',
        ['watch', '--prefix', ctx.prefix, `--rev=${ctx.abs(1)}`, '--prev-kv'],
        {
          timeoutMs: 2000,
        },
      );
    },
  },
  {
    id: 'watch-filters',
    name: 'watch: NOPUT and NODELETE filters; client-chosen watch ids; duplicate ids; empty ranges',
    async run(ctx) {
      const kv = kvOf(ctx);
      const w = watchStream(ctx.raw);
      try {
        const range = { key: ctx.key(), range_end: ctx.prefixEnd() };
        w.write({ create_request: { ...range, filters: [FILTER.NOPUT], watch_id: 7 } });
        created(ctx, 'noput created (id 7)', await w.next(WAIT_MS));
        w.write({ create_request: { ...range, filters: [FILTER.NODELETE], watch_id: 8, prev_kv: true } });
        created(ctx, 'nodelete created (id 8)', await w.next(WAIT_MS));
        w.write({ create_request: { ...range, filters: [FILTER.NOPUT, FILTER.NODELETE], watch_id: 9 } });
        created(ctx, 'both filters created (id 9)', await w.next(WAIT_MS));
        w.write({ create_request: { ...range, watch_id: 7 } });
        created(ctx, 'duplicate id 7', await w.next(WAIT_MS));
        w.write({ create_request: { key: ctx.key('z'), range_end: ctx.key('a') } });
        created(ctx, 'inverted range', await w.next(WAIT_MS));
        await ctx.must('put k 1', kv.put({ key: ctx.key('k'), value: b('1') }));
        await ctx.must('put k 2', kv.put({ key: ctx.key('k'), value: b('2') }));
        await ctx.must('delete k', kv.deleteRange({ key: ctx.key('k') }));
        await ctx.must('put j', kv.put({ key: ctx.key('j'), value: b('x') }));
        const got = await readEvents(w, 4);
        const more = await w.drain(300);
        const all = [...got, ...more];
        const byId = (id: string) => eventsOf(all.filter((r) => String(r.watch_id) === id));
        ctx.record('noput (7) saw', byId('7'));
        ctx.record('nodelete (8) saw', byId('8'));
        ctx.record('both filters (9) saw', byId('9'));
        ctx.note('responses for watcher 9', all.filter((r) => String(r.watch_id) === '9').length);
      } finally {
        w.close();
      }
    },
  },
  {
    id: 'watch-progress',
    name: 'watch: RequestProgress answers with the current revision; progress_notify watchers are accepted',
    async run(ctx) {
      const kv = kvOf(ctx);
      const w = watchStream(ctx.raw);
      try {
        w.write({ create_request: { key: ctx.key('watched'), progress_notify: true } });
        created(ctx, 'created', await w.next(WAIT_MS));
        await ctx.must('put other 1', kv.put({ key: ctx.key('other'), value: b('1') }));
        await ctx.must('put other 2', kv.put({ key: ctx.key('other'), value: b('2') }));
        // A progress answer says what the stream's member has applied (not linearizable, on
        // etcd either): wait until it has applied the writes made through other members.
        await ctx.settled(ctx.abs(2));
        w.write({ progress_request: {} });
        ctx.record('progress response', await w.next(WAIT_MS));
        await ctx.must('put watched', kv.put({ key: ctx.key('watched'), value: b('w') }));
        ctx.record('event', await w.next(WAIT_MS));
        w.write({ progress_request: {} });
        ctx.record('progress after the event', await w.next(WAIT_MS));
        ctx.record('nothing else', await w.drain(300));
      } finally {
        w.close();
      }
    },
  },
  {
    id: 'watch-follower',
    name: 'watch: watchers on a follower (etcd3 client and raw stream) see writes made through the leader',
    async run(ctx) {
      const follower = ctx.target.endpoints[await ctx.target.followerIndex()]!;
      const leader = ctx.target.endpoints[await ctx.target.leaderIndex()]!;
      const onFollower = ctx.target.client([follower]);
      const throughLeader = ctx.target.client([leader]);
      const raw = rawClient(follower);
      const w = watchStream(raw);
      const watcher = await onFollower.watch().prefix(ctx.prefix).withPreviousKV().create();
      try {
        const got = collector(watcher);
        await ctx.settled(ctx.base, raw);
        w.write({ create_request: { key: ctx.key(), range_end: ctx.prefixEnd(), prev_kv: true } });
        created(ctx, 'raw watcher created on the follower', await w.next(WAIT_MS));
        await ctx.must('put a via leader', throughLeader.put(ctx.key('a')).value('1').exec());
        await ctx.must('put a again via leader', throughLeader.put(ctx.key('a')).value('2').exec());
        await ctx.must('delete a via leader', throughLeader.delete().key(ctx.key('a')).exec());
        ctx.record('etcd3 client watcher on the follower saw', eventsOf(await got.wait(3)));
        ctx.record('raw watcher on the follower saw', eventsOf(await readEvents(w, 3)));
        // And a replay served by the follower (once it has applied the delete).
        await ctx.settled(ctx.abs(3), raw);
        w.write({ create_request: { key: ctx.key('a'), start_revision: ctx.abs(1) } });
        created(ctx, 'replay on the follower: created', await w.next(WAIT_MS));
        ctx.record('replay on the follower: events', eventsOf(await readEvents(w, 3)));
        // kube-apiserver's consistent reads from its cache ask a watch stream for progress: on a
        // follower too, the revision announced must cover every write acknowledged before.
        await ctx.must('put b via leader', throughLeader.put(ctx.key('b')).value('p').exec());
        ctx.record('raw watcher on the follower: put b', eventsOf(await readEvents(w, 1)));
        w.write({ progress_request: {} });
        ctx.record('progress on the follower', await w.next(WAIT_MS));
      } finally {
        await watcher.cancel();
        w.close();
        raw.close();
      }
    },
  },
];
