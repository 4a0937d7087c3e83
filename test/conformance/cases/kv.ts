/**
 * Every KV request shape, through the etcd3 client's raw calls (client.kv.*), a raw grpc-js client
 * where the exact gRPC code matters, and etcdctl.
 */

import { unary } from '../grpc.js';
import type { Case } from '../harness.js';
import { BY, b, CMP, kvOf, leaseOf, type Msg, ORDER, putAll, TARGET } from './util.js';

/**
 * The only keys at or after "~" in the whole suite: "from key" ranges (range_end "\0") read every
 * key after theirs, so they get a corner of the key space no other case writes to.
 */
const FROM_KEY_PREFIX = '~conf-fromkey/';

/**
 * Deliberate (src/datastore/etcd/watch.ts failWatcher): a watch cancelled by compaction carries
 * cancel_reason "mvcc: required revision has been compacted"; etcd (3.4 and 3.5) leaves it empty
 * and clients read compact_revision. Everything else of the response is the same.
 */
const WATCH_CANCEL_REASON =
  'deliberate: ours sets cancel_reason on a compacted watch (etcd leaves it empty; compact_revision is the same)';

export const kvCases: Case[] = [
  {
    id: 'range-basic',
    name: 'range: single key, missing key, prefix, [a, c), inverted and empty ranges',
    async run(ctx) {
      const kv = kvOf(ctx);
      await putAll(ctx, [
        ['a', '1'],
        ['b', '2'],
        ['c', '3'],
        ['b', '2b'],
        ['d', '4'],
      ]);
      await ctx.step('single', kv.range({ key: ctx.key('b') }));
      await ctx.step('missing', kv.range({ key: ctx.key('zz') }));
      await ctx.step('prefix', kv.range({ key: ctx.key(), range_end: ctx.prefixEnd() }));
      await ctx.step('[a,c)', kv.range({ key: ctx.key('a'), range_end: ctx.key('c') }));
      await ctx.step('range_end < key', kv.range({ key: ctx.key('c'), range_end: ctx.key('a') }));
      await ctx.step('range_end == key', kv.range({ key: ctx.key('c'), range_end: ctx.key('c') }));
      await ctx.step('empty key', kv.range({ key: b('') }));
      await ctx.step('raw empty key', unary(ctx.raw.kv, 'Range', { key: b('') }));
      // The smallest key of the whole store ("\0" to "\0", limit 1): every case writes under
      // "/conf/", so it is the first key of the first case that ran; only the key is compared.
      const first = await ctx.step(
        'all keys limit 1',
        kv.range({ key: Buffer.from([0]), range_end: Buffer.from([0]), limit: 1, keys_only: true }),
      );
      ctx.expect('all keys limit 1 says more', first?.more === true);
    },
  },
  {
    id: 'range-fromkey',
    name: 'range and delete from a key to the end (range_end "\\0")',
    async run(ctx) {
      const kv = kvOf(ctx);
      const k = (s: string) => b(FROM_KEY_PREFIX + s);
      for (const [key, value] of [
        ['a', '1'],
        ['b', '2'],
        ['c', '3'],
        ['d', '4'],
      ] as const) {
        await ctx.must(`put ${key}`, kv.put({ key: k(key), value: b(value) }));
      }
      const zero = Buffer.from([0]);
      await ctx.step('from b', kv.range({ key: k('b'), range_end: zero }));
      await ctx.step('from b limit 2', kv.range({ key: k('b'), range_end: zero, limit: 2 }));
      await ctx.step('from b count_only', kv.range({ key: k('b'), range_end: zero, count_only: true }));
      await ctx.step(
        'from b descending',
        kv.range({ key: k('b'), range_end: zero, sort_order: ORDER.DESCEND }),
      );
      await ctx.step(
        'delete from c prev_kv',
        kv.deleteRange({ key: k('c'), range_end: zero, prev_kv: true }),
      );
      await ctx.step('from a after delete', kv.range({ key: k('a'), range_end: zero }));
      await ctx.ctl('etcdctl get --from-key', ['get', `${FROM_KEY_PREFIX}b`, '--from-key']);
      await ctx.ctl('etcdctl del --from-key', ['del', `${FROM_KEY_PREFIX}a`, '--from-key']);
      await ctx.step('nothing left', kv.range({ key: k(''), range_end: zero }));
    },
  },
  {
    id: 'range-limit',
    name: 'range: limit, more and count',
    async run(ctx) {
      const kv = kvOf(ctx);
      await putAll(ctx, [
        ['k1', 'a'],
        ['k2', 'b'],
        ['k3', 'c'],
        ['k4', 'd'],
        ['k5', 'e'],
      ]);
      const all = { key: ctx.key(), range_end: ctx.prefixEnd() };
      for (const limit of [1, 2, 4, 5, 6, 0, -1]) {
        await ctx.step(`limit ${limit}`, kv.range({ ...all, limit }));
      }
      await ctx.step('limit 2 from k4', kv.range({ ...all, key: ctx.key('k4'), limit: 2 }));
      await ctx.step('limit 1 single key', kv.range({ key: ctx.key('k3'), limit: 1 }));
      await ctx.ctl(
        'etcdctl get --prefix --limit 2 -w json',
        ['get', '--prefix', ctx.prefix, '--limit', '2', '-w', 'json'],
        {
          json: true,
        },
      );
      await ctx.ctl('etcdctl get --prefix --limit 2', ['get', '--prefix', ctx.prefix, '--limit', '2']);
    },
  },
  {
    id: 'range-revision',
    name: 'range at old revisions, the current one, a future one',
    async run(ctx) {
      const kv = kvOf(ctx);
      const r1 = await ctx.must('put k v1', kv.put({ key: ctx.key('k'), value: b('v1') }));
      const r2 = await ctx.must('put k v2', kv.put({ key: ctx.key('k'), value: b('v2') }));
      const r3 = await ctx.must('put j x', kv.put({ key: ctx.key('j'), value: b('x') }));
      const r4 = await ctx.must('delete k', kv.deleteRange({ key: ctx.key('k') }));
      const r5 = await ctx.must('put k v3', kv.put({ key: ctx.key('k'), value: b('v3') }));
      const revs = [r1, r2, r3, r4, r5].map((r: Msg) => r.header.revision as string);
      for (const [i, rev] of revs.entries()) {
        await ctx.step(`k at r${i + 1}`, kv.range({ key: ctx.key('k'), revision: rev }));
        await ctx.step(
          `prefix at r${i + 1}`,
          kv.range({ key: ctx.key(), range_end: ctx.prefixEnd(), revision: rev }),
        );
      }
      await ctx.step('k at revision 0 (current)', kv.range({ key: ctx.key('k'), revision: 0 }));
      await ctx.step('k at revision -1', kv.range({ key: ctx.key('k'), revision: -1 }));
      const future = String(Number(revs[4]) + 1000);
      await ctx.step('future revision', kv.range({ key: ctx.key('k'), revision: future }));
      await ctx.step(
        'raw future revision',
        unary(ctx.raw.kv, 'Range', { key: ctx.key('k'), revision: future }),
      );
      await ctx.step(
        'next revision (future)',
        unary(ctx.raw.kv, 'Range', { key: ctx.key('k'), revision: String(Number(revs[4]) + 1) }),
      );
      await ctx.ctl('etcdctl get --rev r1', ['get', ctx.prefix, '--prefix', `--rev=${revs[0]}`]);
      await ctx.ctl('etcdctl get --rev future', ['get', ctx.prefix, '--prefix', `--rev=${future}`]);
    },
  },
  {
    id: 'range-count-keys',
    name: 'range: count_only and keys_only, alone and with limit, sort and revision',
    async run(ctx) {
      const kv = kvOf(ctx);
      await putAll(ctx, [
        ['a', 'va'],
        ['b', 'vb'],
        ['c', 'vc'],
        ['a', 'va2'],
      ]);
      const all = { key: ctx.key(), range_end: ctx.prefixEnd() };
      await ctx.step('count_only', kv.range({ ...all, count_only: true }));
      await ctx.step('count_only limit 1', kv.range({ ...all, count_only: true, limit: 1 }));
      await ctx.step('count_only single', kv.range({ key: ctx.key('b'), count_only: true }));
      await ctx.step('count_only missing', kv.range({ key: ctx.key('x'), count_only: true }));
      await ctx.step('keys_only', kv.range({ ...all, keys_only: true }));
      await ctx.step('keys_only limit 2', kv.range({ ...all, keys_only: true, limit: 2 }));
      await ctx.step(
        'keys_only sort by value descending',
        kv.range({ ...all, keys_only: true, sort_order: ORDER.DESCEND, sort_target: BY.VALUE }),
      );
      await ctx.step('keys_only and count_only', kv.range({ ...all, keys_only: true, count_only: true }));
      await ctx.ctl('etcdctl get --keys-only', ['get', '--prefix', ctx.prefix, '--keys-only']);
      await ctx.ctl(
        'etcdctl get --keys-only -w json',
        ['get', '--prefix', ctx.prefix, '--keys-only', '-w', 'json'],
        {
          json: true,
        },
      );
    },
  },
  {
    id: 'range-serializable',
    name: 'range: serializable reads on the member that took the writes',
    async run(ctx) {
      // Writes and reads through one member (the raw client's): a member answers a write only
      // once it has applied it, so its serializable reads see it, on etcd and on ours.
      const put = (k: string, v: string) => unary(ctx.raw.kv, 'Put', { key: ctx.key(k), value: b(v) });
      await ctx.must('put a', put('a', '1'));
      await ctx.must('put b', put('b', '2'));
      await ctx.step(
        'serializable single',
        unary(ctx.raw.kv, 'Range', { key: ctx.key('a'), serializable: true }),
      );
      await ctx.step(
        'serializable prefix',
        unary(ctx.raw.kv, 'Range', { key: ctx.key(), range_end: ctx.prefixEnd(), serializable: true }),
      );
      await ctx.step(
        'serializable old revision',
        unary(ctx.raw.kv, 'Range', {
          key: ctx.key(),
          range_end: ctx.prefixEnd(),
          serializable: true,
          revision: ctx.abs(1),
        }),
      );
      await ctx.ctl('etcdctl get --consistency=s', ['get', '--prefix', ctx.prefix, '--consistency=s'], {
        endpoints: [ctx.target.endpoints[0]!],
      });
    },
  },
  {
    id: 'range-sort',
    name: 'range: every sort order and target, with and without limit; invalid sort options',
    known: {
      'bad sort order':
        'deliberate: etcd 3.4 ignores an unknown sort_order and answers the range; etcd 3.5+ (the ' +
        'version we report) refuses it with INVALID_ARGUMENT "etcdserver: invalid sort option", as we do',
    },
    async run(ctx) {
      const kv = kvOf(ctx);
      // Key order a..e; value, version, create and mod orders all differ from it.
      await putAll(ctx, [
        ['c', 'v3'],
        ['a', 'v5'],
        ['e', 'v1'],
        ['b', 'v4'],
        ['d', 'v2'],
        ['c', 'v3'],
        ['e', 'v1'],
        ['e', 'v1'],
        ['a', 'v5'],
      ]);
      const all = { key: ctx.key(), range_end: ctx.prefixEnd() };
      for (const [orderName, order] of Object.entries(ORDER)) {
        for (const [byName, by] of Object.entries(BY)) {
          const res = await kv
            .range({ ...all, sort_order: order, sort_target: by, keys_only: true })
            .catch((e) => e);
          ctx.record(`${orderName} by ${byName}`, res);
          await ctx.step(
            `${orderName} by ${byName} limit 2`,
            kv.range({ ...all, sort_order: order, sort_target: by, limit: 2 }),
          );
        }
      }
      // etcd 3.4 ignores an unknown sort order; 3.5+ (what we claim) refuses it (see `known`).
      await ctx.step('bad sort order', unary(ctx.raw.kv, 'Range', { ...all, sort_order: 7 }));
      // An unknown sort target makes etcd 3.4 panic (the member dies: fixed in 3.5 by refusing
      // it with "invalid sort option"), so it is only sent to ours, which must refuse it.
      if (ctx.target.name === 'ours') {
        const bad = await unary(ctx.raw.kv, 'Range', { ...all, sort_target: 9 }).catch((e) => e);
        ctx.check(
          'ours refuses an unknown sort target as etcd 3.5 does',
          bad?.code === 3 && bad?.details === 'etcdserver: invalid sort option',
          String(bad?.details ?? 'answered'),
        );
      }
      await ctx.ctl('etcdctl get --sort-by=MODIFY --order=DESCEND', [
        'get',
        '--prefix',
        ctx.prefix,
        '--sort-by=MODIFY',
        '--order=DESCEND',
        '--keys-only',
      ]);
    },
  },
  {
    id: 'range-minmax',
    name: 'range: min/max mod and create revision filters, with count and limit',
    async run(ctx) {
      const kv = kvOf(ctx);
      await putAll(ctx, [
        ['a', '1'], // @1
        ['b', '1'], // @2
        ['c', '1'], // @3
        ['a', '2'], // @4
        ['d', '1'], // @5
        ['b', '2'], // @6
      ]);
      const all = { key: ctx.key(), range_end: ctx.prefixEnd() };
      const filters: [string, Msg][] = [
        ['min_mod @4', { min_mod_revision: ctx.abs(4) }],
        ['max_mod @3', { max_mod_revision: ctx.abs(3) }],
        ['mod @3..@5', { min_mod_revision: ctx.abs(3), max_mod_revision: ctx.abs(5) }],
        ['min_create @3', { min_create_revision: ctx.abs(3) }],
        ['max_create @2', { max_create_revision: ctx.abs(2) }],
        ['create @2..@3', { min_create_revision: ctx.abs(2), max_create_revision: ctx.abs(3) }],
        ['min_mod @4 limit 1', { min_mod_revision: ctx.abs(4), limit: 1 }],
        ['min_mod @4 count_only', { min_mod_revision: ctx.abs(4), count_only: true }],
        ['min_mod @4 keys_only', { min_mod_revision: ctx.abs(4), keys_only: true }],
        ['max_mod @2 at revision @3', { max_mod_revision: ctx.abs(2), revision: ctx.abs(3) }],
        ['min_mod beyond all', { min_mod_revision: ctx.abs(100) }],
      ];
      for (const [label, f] of filters) await ctx.step(label, kv.range({ ...all, ...f }));
    },
  },
  {
    id: 'put',
    name: 'put: prev_kv, lease, ignore_value, ignore_lease, and their errors',
    async run(ctx) {
      const kv = kvOf(ctx);
      const leases = leaseOf(ctx);
      const l1 = await ctx.must('grant l1', leases.leaseGrant({ TTL: 60 }));
      const l2 = await ctx.must('grant l2', leases.leaseGrant({ TTL: 60 }));
      await ctx.step('put new prev_kv', kv.put({ key: ctx.key('k'), value: b('v1'), prev_kv: true }));
      await ctx.step('put again prev_kv', kv.put({ key: ctx.key('k'), value: b('v2'), prev_kv: true }));
      await ctx.step('put without prev_kv', kv.put({ key: ctx.key('k'), value: b('v3') }));
      await ctx.step(
        'put with lease l1',
        kv.put({ key: ctx.key('k'), value: b('v4'), lease: l1.ID, prev_kv: true }),
      );
      await ctx.step('get after lease', kv.range({ key: ctx.key('k') }));
      await ctx.step(
        'ignore_value with lease l2',
        kv.put({ key: ctx.key('k'), ignore_value: true, lease: l2.ID, prev_kv: true }),
      );
      await ctx.step('get after ignore_value', kv.range({ key: ctx.key('k') }));
      await ctx.step(
        'ignore_lease new value',
        kv.put({ key: ctx.key('k'), value: b('v5'), ignore_lease: true, prev_kv: true }),
      );
      await ctx.step('get after ignore_lease', kv.range({ key: ctx.key('k') }));
      await ctx.step(
        'put without lease drops it',
        kv.put({ key: ctx.key('k'), value: b('v6'), prev_kv: true }),
      );
      await ctx.step(
        'ignore_value and ignore_lease',
        kv.put({ key: ctx.key('k'), ignore_value: true, ignore_lease: true }),
      );
      await ctx.step('get after both ignores', kv.range({ key: ctx.key('k') }));
      // Errors, with their gRPC code (raw grpc-js) and as the etcd3 client shows them.
      const raw = (label: string, req: Msg) => ctx.step(label, unary(ctx.raw.kv, 'Put', req));
      await raw('ignore_value on a missing key', { key: ctx.key('missing'), ignore_value: true });
      await raw('ignore_lease on a missing key', {
        key: ctx.key('missing'),
        value: b('x'),
        ignore_lease: true,
      });
      await raw('ignore_value with a value', { key: ctx.key('k'), value: b('x'), ignore_value: true });
      await raw('ignore_lease with a lease', {
        key: ctx.key('k'),
        value: b('x'),
        lease: l1.ID,
        ignore_lease: true,
      });
      await raw('unknown lease', { key: ctx.key('k'), value: b('x'), lease: '123456789' });
      await raw('empty key', { key: b(''), value: b('x') });
      await ctx.step(
        'client: unknown lease',
        kv.put({ key: ctx.key('k'), value: b('x'), lease: '123456789' }),
      );
      await ctx.step(
        'client: ignore_value on a missing key',
        kv.put({ key: ctx.key('missing'), ignore_value: true }),
      );
      await ctx.step('nothing changed', kv.range({ key: ctx.key(), range_end: ctx.prefixEnd() }));
      // Sizes: a 1 MiB value is fine; beyond --max-request-bytes (1.5 MiB, the default of both)
      // a put is refused by etcd's own check, not by gRPC's message limit.
      const big = Buffer.alloc(1024 * 1024, 'x');
      const bigPut: Msg = await ctx.step('put 1 MiB', kv.put({ key: ctx.key('big'), value: big }));
      const bigGet: Msg = await ctx.quiet('get 1 MiB', kv.range({ key: ctx.key('big') }));
      ctx.note('1 MiB value read back', {
        put: bigPut !== undefined,
        bytes: bigGet?.kvs?.[0]?.value?.length,
        same: Buffer.compare(Buffer.from(bigGet?.kvs?.[0]?.value ?? []), big) === 0,
      });
      await ctx.step(
        'put 1.6 MiB (too large)',
        unary(ctx.raw.kv, 'Put', { key: ctx.key('big'), value: Buffer.alloc(1.6 * 1024 * 1024, 'y') }),
      );
      await ctx.step('delete 1 MiB', kv.deleteRange({ key: ctx.key('big') }));
      await ctx.ctl('etcdctl put --prev-kv', ['put', `${ctx.prefix}k`, 'v7', '--prev-kv']);
      await ctx.ctl('etcdctl put --ignore-value on missing', ['put', `${ctx.prefix}nope`, '--ignore-value']);
      await ctx.ctl(
        'etcdctl put --prev-kv -w json',
        ['put', `${ctx.prefix}k`, 'v8', '--prev-kv', '-w', 'json'],
        { json: true },
      );
      await leases.leaseRevoke({ ID: l1.ID });
      await leases.leaseRevoke({ ID: l2.ID });
    },
  },
  {
    id: 'delete',
    name: 'delete range: single, missing, prefix, [b, d), prev_kv; revisions',
    async run(ctx) {
      const kv = kvOf(ctx);
      await putAll(ctx, [
        ['a', '1'],
        ['b', '2'],
        ['c', '3'],
        ['d', '4'],
        ['e', '5'],
        ['f', '6'],
      ]);
      await ctx.step('delete a', kv.deleteRange({ key: ctx.key('a') }));
      await ctx.step('delete a again (missing)', kv.deleteRange({ key: ctx.key('a'), prev_kv: true }));
      await ctx.step(
        'delete [b,d) prev_kv',
        kv.deleteRange({ key: ctx.key('b'), range_end: ctx.key('d'), prev_kv: true }),
      );
      await ctx.step('delete inverted range', kv.deleteRange({ key: ctx.key('f'), range_end: ctx.key('a') }));
      await ctx.step('raw delete empty key', unary(ctx.raw.kv, 'DeleteRange', { key: b('') }));
      await ctx.ctl('etcdctl del --prev-kv d', ['del', `${ctx.prefix}d`, '--prev-kv']);
      await ctx.ctl('etcdctl del missing', ['del', `${ctx.prefix}zz`]);
      await ctx.step(
        'delete prefix prev_kv',
        kv.deleteRange({ key: ctx.key(), range_end: ctx.prefixEnd(), prev_kv: true }),
      );
      await ctx.step('empty after', kv.range({ key: ctx.key(), range_end: ctx.prefixEnd() }));
      await ctx.must('put a again', kv.put({ key: ctx.key('a'), value: b('new') }));
      await ctx.step('recreated key: version 1, new create_revision', kv.range({ key: ctx.key('a') }));
      await ctx.step('deleted key at an old revision', kv.range({ key: ctx.key('b'), revision: ctx.abs(6) }));
    },
  },
  {
    id: 'txn-compare',
    name: 'txn: value/version/create/mod/lease compares with =, !=, <, >; missing keys; ranges',
    async run(ctx) {
      const kv = kvOf(ctx);
      const leases = leaseOf(ctx);
      const lease = await ctx.must('grant', leases.leaseGrant({ TTL: 60 }));
      await ctx.must('put k1', kv.put({ key: ctx.key('k1'), value: b('m') })); // @2 (grant is no revision)
      await ctx.must('put k2', kv.put({ key: ctx.key('k2'), value: b('x') }));
      await ctx.must('put k2 again', kv.put({ key: ctx.key('k2'), value: b('y') }));
      await ctx.must('put k3 with lease', kv.put({ key: ctx.key('k3'), value: b('z'), lease: lease.ID }));
      const read = { request_range: { key: ctx.key(), range_end: ctx.prefixEnd(), keys_only: true } };
      const cmp = async (label: string, compare: Msg) => {
        const res = await ctx.step(label, kv.txn({ compare: [compare], success: [read], failure: [] }));
        return res;
      };
      const results = Object.entries(CMP);
      for (const [rn, result] of results) {
        await cmp(`value ${rn} m`, { key: ctx.key('k1'), target: TARGET.VALUE, result, value: b('m') });
        await cmp(`value ${rn} n`, { key: ctx.key('k1'), target: TARGET.VALUE, result, value: b('n') });
        await cmp(`version ${rn} 2`, { key: ctx.key('k2'), target: TARGET.VERSION, result, version: 2 });
        await cmp(`version ${rn} 1`, { key: ctx.key('k2'), target: TARGET.VERSION, result, version: 1 });
        await cmp(`create ${rn} k2's`, {
          key: ctx.key('k2'),
          target: TARGET.CREATE,
          result,
          create_revision: ctx.abs(2),
        });
        await cmp(`mod ${rn} k2's`, {
          key: ctx.key('k2'),
          target: TARGET.MOD,
          result,
          mod_revision: ctx.abs(3),
        });
        await cmp(`mod ${rn} 0`, { key: ctx.key('k1'), target: TARGET.MOD, result, mod_revision: 0 });
        await cmp(`lease ${rn} k3's`, { key: ctx.key('k3'), target: TARGET.LEASE, result, lease: lease.ID });
        await cmp(`lease ${rn} 0`, { key: ctx.key('k1'), target: TARGET.LEASE, result, lease: 0 });
        await cmp(`missing: version ${rn} 0`, {
          key: ctx.key('nope'),
          target: TARGET.VERSION,
          result,
          version: 0,
        });
        await cmp(`missing: create ${rn} 0`, {
          key: ctx.key('nope'),
          target: TARGET.CREATE,
          result,
          create_revision: 0,
        });
        await cmp(`missing: mod ${rn} 0`, {
          key: ctx.key('nope'),
          target: TARGET.MOD,
          result,
          mod_revision: 0,
        });
        await cmp(`missing: value ${rn} ""`, {
          key: ctx.key('nope'),
          target: TARGET.VALUE,
          result,
          value: b(''),
        });
        await cmp(`missing: lease ${rn} 0`, { key: ctx.key('nope'), target: TARGET.LEASE, result, lease: 0 });
        await cmp(`range: version ${rn} 1`, {
          key: ctx.key('k'),
          range_end: ctx.key('l'),
          target: TARGET.VERSION,
          result,
          version: 1,
        });
        await cmp(`range: mod ${rn} @3`, {
          key: ctx.key('k'),
          range_end: ctx.key('l'),
          target: TARGET.MOD,
          result,
          mod_revision: ctx.abs(3),
        });
      }
      await ctx.step(
        'two compares, both true',
        kv.txn({
          compare: [
            { key: ctx.key('k1'), target: TARGET.VALUE, result: CMP.EQUAL, value: b('m') },
            { key: ctx.key('k2'), target: TARGET.VERSION, result: CMP.GREATER, version: 1 },
          ],
          success: [read],
          failure: [],
        }),
      );
      await ctx.step(
        'two compares, one false',
        kv.txn({
          compare: [
            { key: ctx.key('k1'), target: TARGET.VALUE, result: CMP.EQUAL, value: b('m') },
            { key: ctx.key('k2'), target: TARGET.VERSION, result: CMP.LESS, version: 1 },
          ],
          success: [read],
          failure: [{ request_range: { key: ctx.key('k2') } }],
        }),
      );
      await ctx.step('no compares', kv.txn({ compare: [], success: [read], failure: [] }));
      await ctx.step('empty txn', kv.txn({ compare: [], success: [], failure: [] }));
      await ctx.step(
        'compare target differs from the value set',
        unary(ctx.raw.kv, 'Txn', {
          compare: [{ key: ctx.key('k2'), target: TARGET.MOD, result: CMP.GREATER, version: 1 }],
          success: [read],
        }),
      );
      await leases.leaseRevoke({ ID: lease.ID });
    },
  },
  {
    id: 'txn-ops',
    name: 'txn: several ops, reads see earlier writes, nested txns, errors',
    async run(ctx) {
      const kv = kvOf(ctx);
      await putAll(ctx, [
        ['a', '1'],
        ['b', '2'],
      ]);
      const key = ctx.key.bind(ctx);
      await ctx.step(
        'put, range, delete, range in one txn',
        kv.txn({
          compare: [],
          success: [
            { request_put: { key: key('c'), value: b('3'), prev_kv: true } },
            { request_range: { key: key(), range_end: ctx.prefixEnd() } },
            { request_delete_range: { key: key('a'), prev_kv: true } },
            { request_range: { key: key(), range_end: ctx.prefixEnd(), count_only: true } },
            { request_put: { key: key('b'), value: b('2b'), prev_kv: true } },
          ],
          failure: [],
        }),
      );
      await ctx.step(
        'read-only txn (no new revision)',
        kv.txn({ compare: [], success: [{ request_range: { key: key('b') } }], failure: [] }),
      );
      await ctx.step(
        'range at an old revision inside a txn',
        kv.txn({
          compare: [],
          success: [{ request_range: { key: key('a'), revision: ctx.abs(1) } }],
          failure: [],
        }),
      );
      await ctx.step(
        'delete of nothing in a txn',
        kv.txn({ compare: [], success: [{ request_delete_range: { key: key('none') } }], failure: [] }),
      );
      const nested = (inner: boolean) =>
        kv.txn({
          compare: [{ key: key('b'), target: TARGET.VALUE, result: CMP.EQUAL, value: b('2b') }],
          success: [
            { request_put: { key: key('outer'), value: b('o') } },
            {
              request_txn: {
                compare: [
                  { key: key('c'), target: TARGET.VALUE, result: CMP.EQUAL, value: b(inner ? '3' : 'nope') },
                ],
                success: [
                  { request_put: { key: key('inner'), value: b('yes') } },
                  { request_range: { key: key('outer') } },
                ],
                failure: [
                  { request_put: { key: key('inner'), value: b('no') } },
                  { request_range: { key: key(), range_end: ctx.prefixEnd(), keys_only: true } },
                ],
              },
            },
          ],
          failure: [{ request_range: { key: key('b') } }],
        });
      // Which response headers carry cluster and member ids (normal forms strip them).
      const shape: Msg = await unary(ctx.raw.kv, 'Txn', {
        success: [
          { request_range: { key: key('b') } },
          { request_put: { key: key('h'), value: b('1') } },
          { request_txn: { success: [{ request_range: { key: key('b') } }] } },
        ],
      });
      const ids = (h: Msg) => (h && h.cluster_id !== '0' && h.member_id !== '0' ? 'ids' : 'no ids');
      ctx.note('ids in the headers of txn op responses', {
        top: ids(shape.header),
        range: ids(shape.responses[0].response_range.header),
        put: ids(shape.responses[1].response_put.header),
        txn: ids(shape.responses[2].response_txn.header),
        'range in txn': ids(shape.responses[2].response_txn.responses[0].response_range.header),
      });
      await ctx.step('nested txn, inner true', nested(true));
      await ctx.step('nested txn, inner false', nested(false));
      await ctx.step('after nested', kv.range({ key: key(), range_end: ctx.prefixEnd() }));
      const raw = (label: string, req: Msg) => ctx.step(label, unary(ctx.raw.kv, 'Txn', req));
      await raw('duplicate put', {
        success: [
          { request_put: { key: key('x'), value: b('1') } },
          { request_put: { key: key('x'), value: b('2') } },
        ],
      });
      await raw('put and delete of one key', {
        success: [
          { request_put: { key: key('x'), value: b('1') } },
          { request_delete_range: { key: key('x') } },
        ],
      });
      await raw('put and delete of a range holding it', {
        success: [
          { request_put: { key: key('b'), value: b('1') } },
          { request_delete_range: { key: key('a'), range_end: key('c') } },
        ],
      });
      await raw('duplicate put in a nested txn', {
        success: [
          { request_put: { key: key('x'), value: b('1') } },
          { request_txn: { success: [{ request_put: { key: key('x'), value: b('2') } }] } },
        ],
      });
      await raw('duplicate puts in success and failure (allowed)', {
        compare: [{ key: key('b'), target: TARGET.VERSION, result: CMP.GREATER, version: 0 }],
        success: [{ request_put: { key: key('y'), value: b('s') } }],
        failure: [{ request_put: { key: key('y'), value: b('f') } }],
      });
      await raw('129 ops', {
        success: Array.from({ length: 129 }, (_, i) => ({ request_range: { key: key(`r${i}`) } })),
      });
      await raw('128 ops', {
        success: Array.from({ length: 128 }, (_, i) => ({ request_range: { key: key(`r${i}`) } })),
      });
      await raw('empty compare key', {
        compare: [{ key: b(''), target: TARGET.VERSION, result: CMP.EQUAL, version: 0 }],
        success: [],
      });
      await raw('empty key in a put', { success: [{ request_put: { key: b(''), value: b('1') } }] });
      await raw('unknown lease in the branch taken', {
        success: [{ request_put: { key: key('l'), value: b('1'), lease: '987654321' } }],
      });
      await raw('unknown lease in the branch not taken', {
        compare: [{ key: key('b'), target: TARGET.VERSION, result: CMP.GREATER, version: 0 }],
        success: [{ request_range: { key: key('b') } }],
        failure: [{ request_put: { key: key('l'), value: b('1'), lease: '987654321' } }],
      });
      await raw('ignore_value on a missing key in a txn', {
        success: [{ request_put: { key: key('missing'), ignore_value: true } }],
      });
      await raw('future revision range in a txn', {
        success: [{ request_range: { key: key('b'), revision: ctx.abs(1000) } }],
      });
      await ctx.step('nothing changed by the errors', kv.range({ key: key(), range_end: ctx.prefixEnd() }));
      const input = [
        `value("${ctx.prefix}b") = "2b"`,
        '',
        `put ${ctx.prefix}t yes`,
        '',
        `get ${ctx.prefix}b`,
        '',
        '',
      ].join('\n');
      await ctx.ctl('etcdctl txn (success)', ['txn'], { input });
      await ctx.ctl('etcdctl txn -w json', ['txn', '-w', 'json'], { input, json: true });
      const failing = [
        `version("${ctx.prefix}b") > "9"`,
        '',
        `put ${ctx.prefix}t no`,
        '',
        `get ${ctx.prefix}t`,
        '',
        '',
      ].join('\n');
      await ctx.ctl('etcdctl txn (failure)', ['txn'], { input: failing });
    },
  },
  {
    id: 'compact',
    name: 'compact: reads at, below and above the compacted revision; errors; watch from a compacted revision',
    known: {
      'watch from @4 (compacted at @5): canceled': WATCH_CANCEL_REASON,
    },
    async run(ctx) {
      const kv = kvOf(ctx);
      await putAll(ctx, [
        ['k', '1'], // @1
        ['k', '2'], // @2
        ['k', '3'], // @3
        ['j', '1'], // @4
      ]);
      await ctx.step('compact @3 physical', kv.compact({ revision: ctx.abs(3), physical: true }));
      await ctx.step('range at @1 (compacted)', kv.range({ key: ctx.key('k'), revision: ctx.abs(1) }));
      await ctx.step(
        'raw range at @2 (compacted)',
        unary(ctx.raw.kv, 'Range', { key: ctx.key('k'), revision: ctx.abs(2) }),
      );
      await ctx.step(
        'range at @3 (the compact revision)',
        kv.range({ key: ctx.key('k'), revision: ctx.abs(3) }),
      );
      await ctx.step(
        'range at @4',
        kv.range({ key: ctx.key(), range_end: ctx.prefixEnd(), revision: ctx.abs(4) }),
      );
      await ctx.step(
        'txn range at @2 (compacted)',
        unary(ctx.raw.kv, 'Txn', {
          success: [{ request_range: { key: ctx.key('k'), revision: ctx.abs(2) } }],
        }),
      );
      await ctx.step('compact @2 again (compacted)', unary(ctx.raw.kv, 'Compact', { revision: ctx.abs(2) }));
      await ctx.step('compact @3 again (compacted)', unary(ctx.raw.kv, 'Compact', { revision: ctx.abs(3) }));
      await ctx.step('compact future', unary(ctx.raw.kv, 'Compact', { revision: ctx.abs(1000) }));
      await ctx.step('compact @4 not physical', unary(ctx.raw.kv, 'Compact', { revision: ctx.abs(4) }));
      await ctx.step(
        'range at @3 after compact @4',
        unary(ctx.raw.kv, 'Range', { key: ctx.key('k'), revision: ctx.abs(3) }),
      );
      await ctx.step('compact 0', unary(ctx.raw.kv, 'Compact', { revision: 0 }));
      await ctx.ctl('etcdctl get --rev @2', ['get', `${ctx.prefix}k`, `--rev=${ctx.abs(2)}`]);
      await ctx.ctl('etcdctl compaction @1', ['compaction', ctx.abs(1)]);
      await ctx.must('put k 4', kv.put({ key: ctx.key('k'), value: b('4') })); // @5
      await ctx.ctl('etcdctl compaction @5 --physical', ['compaction', ctx.abs(5), '--physical'], {
        // "compacted revision N": N is absolute; make it relative.
        transform: (s) => s.replace(/\d+/, (n) => String(ctx.n.rev(n))),
      });
      // Watches from a compacted revision are cancelled with the compact revision.
      await ctx.settled(ctx.abs(5));
      const { watchStream } = await import('../grpc.js');
      const w = watchStream(ctx.raw);
      try {
        w.write({ create_request: { key: ctx.key('k'), start_revision: ctx.abs(4) } });
        const created = await w.next(5000);
        const canceled = await w.next(5000);
        ctx.record('watch from @4 (compacted at @5): created', created);
        ctx.record('watch from @4 (compacted at @5): canceled', canceled);
        w.write({ create_request: { key: ctx.key('k'), start_revision: ctx.abs(5) } });
        const ok = await w.next(5000);
        const replay = await w.next(5000);
        ctx.record('watch from @5 (the compact revision): created', ok);
        ctx.record('watch from @5 (the compact revision): events', replay);
      } finally {
        w.close();
      }
      await ctx.ctl(
        'etcdctl watch --rev @2 (compacted)',
        ['watch', `${ctx.prefix}k`, `--rev=${ctx.abs(2)}`],
        {
          timeoutMs: 5000,
          transform: (s) => s.replace(/\d+/g, (n) => String(ctx.n.rev(n))),
        },
      );
    },
  },
];
