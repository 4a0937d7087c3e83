/**
 * What kube-apiserver does: paged lists (limit 500, continue key = last key + "\0", at the
 * revision of the first page) and its four Txn shapes (create, update, delete, compaction).
 */

import { unary } from '../grpc.js';
import type { Case, Ctx } from '../harness.js';
import { b, CMP, keysOf, kvOf, type Msg, TARGET } from './util.js';

const PAGE = 500;
const KEYS = 1200;
const PER_TXN = 100;

function podKey(ctx: Ctx, i: number): Buffer {
  return ctx.key(`pods/ns/pod-${String(i).padStart(5, '0')}`);
}

/** Page through [prefix, prefixEnd) as the apiserver's storage does; one normal-form record per page. */
async function pagedList(
  ctx: Ctx,
  label: string,
  revision?: string,
): Promise<{ keys: number; pages: number }> {
  const kv = kvOf(ctx);
  const start = ctx.key('pods/');
  const end = ctx.prefixEnd(`${ctx.prefix}pods/`);
  let key = start;
  let rev = revision;
  let pages = 0;
  let keys = 0;
  for (let guard = 0; guard < 20; guard++) {
    const res: Msg = await ctx.must(
      `${label} page ${pages + 1}`,
      kv.range({ key, range_end: end, limit: PAGE, ...(rev ? { revision: rev } : {}) }),
    );
    pages++;
    keys += res.kvs.length;
    rev ??= res.header.revision as string; // every later page at the first page's revision
    if (!res.more) break;
    const last = res.kvs[res.kvs.length - 1].key as Buffer;
    key = Buffer.concat([last, Buffer.from([0])]);
  }
  return { keys, pages };
}

export const kubeCases: Case[] = [
  {
    id: 'kube-paging',
    name: 'kube-apiserver paged list: 1200 keys, limit 500, continue at the first page revision; old revision lists',
    async run(ctx) {
      const kv = kvOf(ctx);
      // 1200 pods in 12 txns of 100 puts (one revision each): deterministic revisions.
      for (let t = 0; t < KEYS / PER_TXN; t++) {
        const success = Array.from({ length: PER_TXN }, (_, j) => ({
          request_put: { key: podKey(ctx, t * PER_TXN + j), value: b(`{"pod":${t * PER_TXN + j}}`) },
        }));
        await ctx.must(`create batch ${t}`, kv.txn({ compare: [], success, failure: [] }));
      }
      const listed = await pagedList(ctx, 'list');
      ctx.expect(
        'list sees every pod in 3 pages',
        listed.keys === KEYS && listed.pages === 3,
        JSON.stringify(listed),
      );
      const before = ctx.abs(KEYS / PER_TXN); // the revision of the last create batch
      // Changes after it: updates, deletes, new pods between existing ones.
      for (const i of [0, 499, 500, 777]) {
        await ctx.must(`update ${i}`, kv.put({ key: podKey(ctx, i), value: b(`{"pod":${i},"v":2}`) }));
      }
      await ctx.must(
        'delete 100..149',
        kv.deleteRange({ key: podKey(ctx, 100), range_end: podKey(ctx, 150) }),
      );
      await ctx.must('create 1199a', kv.put({ key: ctx.key('pods/ns/pod-01199a'), value: b('{}') }));
      // A list while writes happen between the pages: the later pages stay at the first page's revision.
      const first: Msg = await ctx.must(
        'concurrent list page 1',
        kv.range({ key: ctx.key('pods/'), range_end: ctx.prefixEnd(`${ctx.prefix}pods/`), limit: PAGE }),
      );
      await ctx.must('write between pages', kv.put({ key: podKey(ctx, 900), value: b('{"changed":true}') }));
      await ctx.must('delete between pages', kv.deleteRange({ key: podKey(ctx, 1000) }));
      const last = first.kvs[first.kvs.length - 1].key as Buffer;
      const second: Msg = await ctx.must(
        'concurrent list page 2 at page 1 revision',
        kv.range({
          key: Buffer.concat([last, Buffer.from([0])]),
          range_end: ctx.prefixEnd(`${ctx.prefix}pods/`),
          limit: PAGE,
          revision: first.header.revision,
        }),
      );
      ctx.expect('page 2 continues after page 1', keysOf(second)[0]! > keysOf(first).at(-1)!);
      const now = await pagedList(ctx, 'list now');
      ctx.note('list now size', now);
      const old = await pagedList(ctx, 'list at the old revision', before);
      ctx.expect('old list sees the 1200 original pods', old.keys === KEYS, JSON.stringify(old));
      // The apiserver's count of a resource: a count_only range ("\0"-free prefix end).
      await ctx.step(
        'count_only now',
        kv.range({ key: ctx.key('pods/'), range_end: ctx.prefixEnd(`${ctx.prefix}pods/`), count_only: true }),
      );
      await ctx.step(
        'keys_only page at old revision',
        kv.range({
          key: ctx.key('pods/'),
          range_end: ctx.prefixEnd(`${ctx.prefix}pods/`),
          limit: 3,
          keys_only: true,
          revision: before,
        }),
      );
      // (etcdctl 3.4 has no --count-only.)
      await ctx.ctl(
        'etcdctl get --prefix --limit 2 --keys-only -w json',
        ['get', '--prefix', `${ctx.prefix}pods/`, '--limit', '2', '--keys-only', '-w', 'json'],
        { json: true },
      );
      await ctx.ctl(
        'etcdctl get --prefix --limit 3 --rev old',
        ['get', '--prefix', `${ctx.prefix}pods/`, '--limit', '3', `--rev=${before}`, '-w', 'json'],
        { json: true },
      );
    },
  },
  {
    id: 'kube-txn',
    name: 'kube-apiserver txn shapes: create, update (else get), delete (else get), compaction',
    async run(ctx) {
      const kv = kvOf(ctx);
      const key = ctx.key('registry/pods/default/web');
      const create = (value: string) =>
        kv.txn({
          compare: [{ key, target: TARGET.MOD, result: CMP.EQUAL, mod_revision: 0 }],
          success: [{ request_put: { key, value: b(value) } }],
          failure: [],
        });
      const created: Msg = await ctx.must('create', create('{"v":1}'));
      await ctx.step('create again (exists)', create('{"v":1}'));
      const update = (rev: string, value: string) =>
        kv.txn({
          compare: [{ key, target: TARGET.MOD, result: CMP.EQUAL, mod_revision: rev }],
          success: [{ request_put: { key, value: b(value) } }],
          failure: [{ request_range: { key } }],
        });
      const createdRev = created.header.revision as string;
      const updated: Msg = await ctx.must('update at the created revision', update(createdRev, '{"v":2}'));
      await ctx.step('update at a stale revision (else get)', update(createdRev, '{"v":3}'));
      const updatedRev = updated.header.revision as string;
      const del = (rev: string, prevKv: boolean) =>
        kv.txn({
          compare: [{ key, target: TARGET.MOD, result: CMP.EQUAL, mod_revision: rev }],
          success: [{ request_delete_range: { key, prev_kv: prevKv } }],
          failure: [{ request_range: { key } }],
        });
      await ctx.step('delete at a stale revision (else get)', del(createdRev, true));
      await ctx.step('delete at the current revision', del(updatedRev, true));
      await ctx.step('delete again (missing: else get of nothing)', del(updatedRev, false));
      await ctx.step('update of a deleted key (else get of nothing)', update(updatedRev, '{"v":4}'));
      await ctx.step('create after delete', create('{"v":5}'));
      // The compactor: If(version(compact_rev_key) == t) Then(Put) Else(Get), then Compact.
      // compact_rev_key is one key for the whole store: its version is whatever earlier runs left,
      // so read it first and compare from there (relative, like everything else).
      const compactKey = b('compact_rev_key');
      const current: Msg = await ctx.must(
        'read compact_rev_key',
        unary(ctx.raw.kv, 'Range', { key: compactKey }),
      );
      const t0 = Number(current.kvs[0]?.version ?? 0);
      const compactTxn = (t: number, rev: string) =>
        kv.txn({
          compare: [{ key: compactKey, target: TARGET.VERSION, result: CMP.EQUAL, version: t }],
          // kube-apiserver stores the absolute revision; a relative one keeps the records comparable.
          success: [{ request_put: { key: compactKey, value: b(`@${Number(rev) - ctx.base}`) } }],
          failure: [{ request_range: { key: compactKey } }],
        });
      const rev = ctx.abs(4);
      const won: Msg = await ctx.must('compaction txn wins', compactTxn(t0, rev));
      ctx.expect('compaction txn succeeded', won.succeeded === true);
      await ctx.step('compaction txn loses (else get)', compactTxn(t0, rev));
      await ctx.step('compact', kv.compact({ revision: rev }));
      await ctx.step('read below the compaction', kv.range({ key, revision: ctx.abs(3) }));
      await ctx.step('read at the compaction', kv.range({ key, revision: rev }));
    },
  },
];
