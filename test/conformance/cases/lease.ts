/**
 * Leases: grant (server- and client-chosen ids, TTL bounds), attach, keep-alive, time-to-live with
 * keys, revoke deleting the keys, expiry within TTL + 1 s, and etcdctl's lease commands.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { keepAliveStream, unary, watchStream } from '../grpc.js';
import type { Case, Ctx } from '../harness.js';
import { normalError } from '../normalize.js';
import { b, kvOf, leaseOf, type Msg } from './util.js';

/** TTL of the expiry cases: etcd's smallest with its default timing (1.5 elections, rounded up). */
const SHORT_TTL = 2;
/** The correctness bound of expiry: a lease's keys are gone within TTL + 1 s. */
const EXPIRY_SLACK_MS = 1000;

/** A lease id both clusters accept as chosen by the client, distinct per case. */
function clientLeaseId(n: number): string {
  return String(0x7e57_0000 + n);
}

/**
 * A time-to-live answer with the remaining TTL replaced by whether it is plausible, and the keys
 * sorted (etcd lists them in Go map order, which varies).
 */
/**
 * etcd answers lease reads (TimeToLive, a keep-alive) from the leader's lessor with the leader's
 * applied revision, which can be one behind a put just acknowledged by another member: that
 * header revision is timing, not behaviour, so it is not compared.
 */
function leaderHeader(res: Msg): Msg {
  if (!res?.header) return res;
  return { ...res, header: { ...res.header, revision: 'the leader’s applied revision' } };
}

function ttlShape(res: Msg, granted: number): Msg {
  if (!res) return res;
  const ttl = Number(res.TTL);
  const keys = [...(res.keys ?? [])].map((k: Buffer) => Buffer.from(k).toString()).sort();
  return {
    ...leaderHeader(res),
    keys,
    TTL: ttl === -1 ? -1 : ttl <= granted && ttl >= granted - 3 ? 'within [granted-3, granted]' : ttl,
  };
}

/** etcdctl prints lease ids in hex: name them through the case's lease names. */
function hexIds(ctx: Ctx): (s: string) => string {
  return (s) => s.replace(/\b[0-9a-f]{6,16}\b/g, (hex) => String(ctx.n.lease(BigInt(`0x${hex}`).toString())));
}

export const leaseCases: Case[] = [
  {
    id: 'lease-grant',
    name: 'lease grant: server-chosen and client-chosen ids, minimum TTL, too large, duplicates; leases list',
    async run(ctx) {
      // Everything through one member (the raw client's): LeaseLeases answers from the member's
      // own lessor, which has applied a grant once that member answered it (a follower that did
      // not serve the grant may not have applied it yet: etcd's list is not linearizable).
      const call = (method: string, req: Msg) => unary(ctx.raw.lease, method, req);
      const mine: string[] = [];
      const grant = async (label: string, req: Msg) => {
        const res = await ctx.step(label, call('LeaseGrant', req));
        if (res?.ID) mine.push(String(res.ID));
        return res;
      };
      // Short leases are revoked at once: they would expire (2 s) on a slow machine.
      const short1 = await ctx.step('grant TTL 1 (raised to the minimum)', call('LeaseGrant', { TTL: 1 }));
      await ctx.step('revoke it at once', call('LeaseRevoke', { ID: short1?.ID ?? 0 }));
      const short0 = await ctx.step('grant TTL 0', call('LeaseGrant', { TTL: 0 }));
      await ctx.step('revoke that at once', call('LeaseRevoke', { ID: short0?.ID ?? 0 }));
      await grant('grant TTL 60', { TTL: 60 });
      const chosen = clientLeaseId(1);
      ctx.n.nameLease(chosen, 'client-id-1');
      await grant('grant with a client-chosen id', { TTL: 30, ID: chosen });
      await ctx.step('grant the same id again', call('LeaseGrant', { TTL: 30, ID: chosen }));
      await ctx.step('grant a too large TTL', call('LeaseGrant', { TTL: '9000000001' }));
      ctx.n.nameLease(clientLeaseId(2), 'client-id-2');
      await grant('grant the largest TTL', { TTL: '9000000000', ID: clientLeaseId(2) });
      const list: Msg = await ctx.quiet('leases', call('LeaseLeases', {}));
      const listed = (list.leases as Msg[]).map((l) => String(l.ID)).filter((id) => mine.includes(id));
      ctx.record('leases of this case, listed', listed.map((id) => ctx.n.lease(id)).sort());
      for (const id of mine) await ctx.step(`revoke ${ctx.n.lease(id)}`, call('LeaseRevoke', { ID: id }));
      await ctx.step('revoke again', call('LeaseRevoke', { ID: chosen }));
      await ctx.step('revoke id 0', call('LeaseRevoke', { ID: 0 }));
      const after: Msg = await ctx.quiet('leases after revoke', call('LeaseLeases', {}));
      ctx.record(
        'leases of this case after revoke',
        (after.leases as Msg[]).map((l) => String(l.ID)).filter((id) => mine.includes(id)),
      );
    },
  },
  {
    id: 'lease-use',
    name: 'lease: attach keys, keep-alive, time-to-live with keys, revoke deletes the keys (one revision)',
    async run(ctx) {
      const kv = kvOf(ctx);
      const leases = leaseOf(ctx);
      const lease: Msg = await ctx.must('grant', leases.leaseGrant({ TTL: 60 }));
      await ctx.must('put a with lease', kv.put({ key: ctx.key('a'), value: b('1'), lease: lease.ID }));
      await ctx.must('put b with lease', kv.put({ key: ctx.key('b'), value: b('2'), lease: lease.ID }));
      await ctx.must('put c without', kv.put({ key: ctx.key('c'), value: b('3') }));
      await ctx.step('get a', kv.range({ key: ctx.key('a') }));
      const ttl = async (label: string, id: string, keys: boolean, granted: number) => {
        try {
          ctx.record(label, ttlShape(await leases.leaseTimeToLive({ ID: id, keys }), granted));
        } catch (error) {
          ctx.note(label, { error: normalError(error) });
        }
      };
      await ttl('timetolive with keys', lease.ID, true, 60);
      await ttl('timetolive without keys', lease.ID, false, 60);
      await ttl('timetolive of an unknown lease', '424242', true, 60);
      const ka = keepAliveStream(ctx.raw);
      try {
        ka.write({ ID: lease.ID });
        ctx.record('keep-alive', await ka.next(5000));
        ka.write({ ID: '424242' });
        ctx.record('keep-alive of an unknown lease', await ka.next(5000));
      } finally {
        ka.close();
      }
      await ctx.settled(ctx.abs(3));
      const w = watchStream(ctx.raw);
      try {
        w.write({ create_request: { key: ctx.key(), range_end: ctx.prefixEnd(), prev_kv: true } });
        ctx.record('watch created', await w.next(5000));
        await ctx.step('revoke', leases.leaseRevoke({ ID: lease.ID }));
        const events: Msg[] = [];
        for (let i = 0; i < 3 && events.flatMap((r) => r.events).length < 2; i++) {
          const m = await w.next(5000);
          if (!m) break;
          events.push(m);
        }
        ctx.record(
          'deletes seen by a watcher',
          events.flatMap((r) => r.events),
        );
        ctx.note(
          'one revision for both deletes',
          new Set(events.flatMap((r) => r.events).map((e: Msg) => String(e.kv.mod_revision))).size === 1,
        );
      } finally {
        w.close();
      }
      await ctx.step('keys after revoke', kv.range({ key: ctx.key(), range_end: ctx.prefixEnd() }));
      await ttl('timetolive after revoke', lease.ID, true, 60);
      await ctx.step('revoke again', unary(ctx.raw.lease, 'LeaseRevoke', { ID: lease.ID }));
      await ctx.step(
        'put with the revoked lease',
        unary(ctx.raw.kv, 'Put', { key: ctx.key('a'), value: b('x'), lease: lease.ID }),
      );
      // The etcd3 client's own lease helper: grant, attach, revoke.
      const helper = ctx.c.lease(30, { autoKeepAlive: false });
      await ctx.must('helper put', helper.put(ctx.key('h')).value('1').exec());
      ctx.record('helper keepaliveOnce', leaderHeader(await helper.keepaliveOnce()));
      await ctx.step('helper revoke', helper.revoke());
      await ctx.step('helper key gone', kv.range({ key: ctx.key('h') }));
    },
  },
  {
    id: 'lease-ctl',
    name: 'lease through etcdctl: grant, put --lease, keep-alive --once, timetolive --keys, list, revoke',
    async run(ctx) {
      const hex = hexIds(ctx);
      // One member for every command: `lease list` answers from that member's own lessor.
      const one = { endpoints: [ctx.target.endpoints[0]!] };
      const grant = await ctx.ctl('grant', ['lease', 'grant', '60'], { ...one, transform: hex });
      const id = /lease ([0-9a-f]+) granted/.exec(grant.stdout)?.[1];
      if (!id) throw new Error(`no lease id in ${grant.stdout}`);
      await ctx.ctl('put --lease', ['put', `${ctx.prefix}k`, 'v', `--lease=${id}`], one);
      await ctx.ctl('keep-alive --once', ['lease', 'keep-alive', '--once', id], { ...one, transform: hex });
      await ctx.ctl('timetolive --keys', ['lease', 'timetolive', id, '--keys'], {
        ...one,
        transform: (s) => hex(s).replace(/remaining\((59|60)s\)/, 'remaining(~60s)'),
      });
      await ctx.ctl('get -w json (lease attached)', ['get', `${ctx.prefix}k`, '-w', 'json'], {
        ...one,
        json: true,
      });
      const list = await ctx.target.ctl(['lease', 'list'], one);
      ctx.expect('lease list names it', list.stdout.includes(id), list.stdout);
      await ctx.ctl('revoke', ['lease', 'revoke', id], { ...one, transform: hex });
      await ctx.ctl('get after revoke', ['get', `${ctx.prefix}k`], one);
      await ctx.ctl('timetolive after revoke', ['lease', 'timetolive', id], { ...one, transform: hex });
      await ctx.ctl('revoke again', ['lease', 'revoke', id], { ...one, transform: hex });
      await ctx.ctl('keep-alive --once after revoke', ['lease', 'keep-alive', '--once', id], {
        ...one,
        transform: hex,
      });
    },
  },
  {
    id: 'lease-expiry',
    name: `lease expiry: keys of a ${SHORT_TTL} s lease are gone within TTL + 1 s; keep-alives hold a lease past its TTL`,
    timeoutMs: 25_000,
    async run(ctx) {
      const kv = kvOf(ctx);
      const leases = leaseOf(ctx);
      const w = watchStream(ctx.raw);
      const ka = keepAliveStream(ctx.raw);
      try {
        w.write({ create_request: { key: ctx.key(), range_end: ctx.prefixEnd(), prev_kv: true } });
        await ctx.must('watch created', w.next(5000));
        // The kept lease first, so both keys' revisions are in a fixed order.
        const kept: Msg = await ctx.must('grant kept', leases.leaseGrant({ TTL: SHORT_TTL }));
        const granted = Date.now();
        // Keep `kept` alive every 500 ms while `lease` expires.
        let keeping = true;
        const keeper = (async () => {
          while (keeping) {
            ka.write({ ID: kept.ID });
            await ka.next(1000);
            await sleep(500);
          }
        })();
        await ctx.must('put kept', kv.put({ key: ctx.key('kept'), value: b('k'), lease: kept.ID }));
        const lease: Msg = await ctx.must('grant', leases.leaseGrant({ TTL: SHORT_TTL }));
        const grantedAt = Date.now();
        await ctx.must('put with lease', kv.put({ key: ctx.key('k'), value: b('v'), lease: lease.ID }));
        // Poll until the key is gone (bounded well past the bound, to measure a miss too).
        const bound = SHORT_TTL * 1000 + EXPIRY_SLACK_MS;
        let goneAfter = Number.NaN;
        const deadline = grantedAt + bound + 5000;
        while (Date.now() < deadline) {
          const res: Msg = await unary(ctx.raw.kv, 'Range', { key: ctx.key('k'), count_only: true });
          if (Number(res.count) === 0) {
            goneAfter = Date.now() - grantedAt;
            break;
          }
          await sleep(50);
        }
        ctx.log(
          `key of a ${SHORT_TTL} s lease gone ${goneAfter} ms after the grant answered (bound ${bound} ms)`,
        );
        ctx.expect(`gone within TTL + 1 s (${bound} ms)`, goneAfter <= bound, `gone after ${goneAfter} ms`);
        ctx.expect(
          `not gone before the TTL`,
          goneAfter >= SHORT_TTL * 1000 - 100,
          `gone after ${goneAfter} ms`,
        );
        // The watcher saw both puts, then the expiry: a delete of k, with its prev_kv.
        const seen: Msg[] = [];
        for (let i = 0; i < 5 && !seen.some((e) => e.type === 1); i++) {
          const m: Msg = await w.next(3000);
          if (!m) break;
          seen.push(...m.events);
        }
        ctx.record('the expiry as a watcher sees it', seen);
        await ctx.step(
          'timetolive of the expired lease',
          leases.leaseTimeToLive({ ID: lease.ID, keys: true }),
        );
        // `kept` outlived its TTL thanks to the keep-alives.
        while (Date.now() - granted < SHORT_TTL * 1000 + 1500) await sleep(100);
        await ctx.step('kept key still there past its TTL', kv.range({ key: ctx.key('kept') }));
        keeping = false;
        await keeper;
        await ctx.step('revoke kept', leases.leaseRevoke({ ID: kept.ID }));
      } finally {
        ka.close();
        w.close();
      }
    },
  },
];
