/**
 * The cluster as clients see it: Maintenance.Status, Cluster.MemberList, endpoint health (etcdctl),
 * and writes made through a follower only (forwarded to the leader).
 *
 * Status and MemberList are compared by shape: versions (etcd 3.4.x vs our 3.5.13), ids, raft
 * indexes, database sizes and URLs legitimately differ between two clusters.
 */
import { rawClient, unary } from '../grpc.js';
import { type Case, type Ctx, until } from '../harness.js';
import { normalError } from '../normalize.js';
import { b, CMP, kvOf, type leaseOf, type Msg, TARGET } from './util.js';

function semver(v: string): [number, number, number] {
  const [a, b2, c] = v.split('.').map((x) => Number.parseInt(x, 10));
  return [a ?? 0, b2 ?? 0, c ?? 0];
}

function atLeast(v: string, min: string): boolean {
  const x = semver(v);
  const y = semver(min);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! > y[i]!;
  return true;
}

/** What must hold of a Status answer on any etcd-compatible member, as booleans. */
function statusShape(ctx: Ctx, s: Msg, memberIds: string[]): Msg {
  // etcd 3.4 says 3.4.x; ours reports at least 3.5.13 (kube-apiserver gates watch-progress
  // features on it). Either way a well-formed x.y.z.
  const versionOk =
    ctx.target.name === 'ours' ? atLeast(String(s.version), '3.5.13') : /^3\.4\.\d+$/.test(String(s.version));
  return {
    fields: Object.keys(s).sort(),
    versionOk,
    leaderIsAMember: memberIds.includes(String(s.leader)),
    dbSizePositive: Number(s.dbSize) > 0,
    raftIndexPositive: Number(s.raftIndex) > 0,
    raftTermPositive: Number(s.raftTerm) > 0,
    appliedPositive: Number(s.raftAppliedIndex) > 0,
    errors: s.errors,
    isLearner: s.isLearner,
    headerMemberIsAMember: memberIds.includes(String(s.header?.member_id)),
  };
}

export const clusterCases: Case[] = [
  {
    id: 'status',
    name: 'Maintenance.Status on every member (shape), etcdctl endpoint status',
    async run(ctx) {
      const members: Msg = await ctx.quiet('member list', unary(ctx.raw.cluster, 'MemberList', {}));
      const ids = (members.members as Msg[]).map((m) => String(m.ID));
      const leaders = new Set<string>();
      for (const [i, endpoint] of ctx.target.endpoints.entries()) {
        const raw = rawClient(endpoint);
        try {
          const s: Msg = await unary(raw.maintenance, 'Status', {});
          leaders.add(String(s.leader));
          ctx.note(`status of member ${i + 1}`, statusShape(ctx, s, ids));
        } catch (error) {
          ctx.record(`status of member ${i + 1}`, { error: String(error) });
        } finally {
          raw.close();
        }
      }
      ctx.expect('every member names the same leader', leaders.size === 1, [...leaders].join(','));
      const client: Msg = await ctx.quiet('etcd3 client status', ctx.c.maintenance.status());
      ctx.note('etcd3 client status shape', statusShape(ctx, client, ids));
      const ctl = await ctx.target.ctl(['endpoint', 'status', '-w', 'json']);
      let parsed: Msg[] = [];
      try {
        parsed = JSON.parse(ctl.stdout);
      } catch {
        // recorded below as an empty list
      }
      ctx.note('etcdctl endpoint status -w json', {
        exit: ctl.exitCode,
        endpoints: parsed.map((p) => ctx.target.ctlEndpoints.split(',').indexOf(p.Endpoint)),
        fields: parsed.map((p) => Object.keys(p.Status ?? {}).sort()),
        leaders: new Set(parsed.map((p) => JSON.stringify(p.Status?.leader))).size,
      });
      const table = await ctx.target.ctl(['endpoint', 'status']);
      ctx.note('etcdctl endpoint status (table) lines', {
        exit: table.exitCode,
        lines: table.stdout.trim().split('\n').length,
        leaderFlags: table.stdout
          .trim()
          .split('\n')
          .map((l) => l.split(', ')[4])
          .sort(),
      });
    },
  },
  {
    id: 'members',
    name: 'Cluster.MemberList: 3 voting members with their client URLs; etcdctl member list',
    async run(ctx) {
      const check = (label: string, res: Msg) => {
        const members = (res?.members ?? []) as Msg[];
        ctx.note(label, {
          count: members.length,
          distinctIds: new Set(members.map((m) => String(m.ID))).size,
          named: members.every((m) => typeof m.name === 'string' && m.name.length > 0),
          peerUrls: members.map((m) => m.peerURLs.length),
          clientUrlsAreTheEndpoints:
            members
              .map((m) => m.clientURLs.join(','))
              .sort()
              .join(' ') === [...ctx.target.endpoints].sort().join(' '),
          learners: members.filter((m) => m.isLearner).length,
        });
      };
      check('raw member list', await unary(ctx.raw.cluster, 'MemberList', {}));
      check('etcd3 client member list', await ctx.c.cluster.memberList({}));
      const json = await ctx.target.ctl(['member', 'list', '-w', 'json']);
      ctx.expect('etcdctl member list -w json succeeds', json.exitCode === 0, json.stderr);
      // uint64 ids do not survive JSON.parse; the rest does.
      check('etcdctl member list -w json', JSON.parse(json.stdout || '{}'));
      const table = await ctx.target.ctl(['member', 'list']);
      ctx.note(
        'etcdctl member list (table)',
        table.stdout
          .trim()
          .split('\n')
          .map((l) => {
            const [, started, , , , learner] = l.split(', ');
            return `${started}, ${learner}`;
          }),
      );
    },
  },
  {
    id: 'health',
    name: 'endpoint health through etcdctl (every member, text and JSON)',
    async run(ctx) {
      const text = await ctx.target.ctl(['endpoint', 'health']);
      const lines = `${text.stdout}${text.stderr}`
        .split('\n')
        .filter((l) => l.includes('healthy'))
        .map((l) =>
          l
            .replace(
              /^\S+/,
              (ep) =>
                `member ${ctx.target.ctlEndpoints.split(',').indexOf(ep.replace(/^https?:\/\//, '')) + 1}`,
            )
            .replace(/took = \S+/, 'took = T'),
        )
        .sort();
      ctx.note('etcdctl endpoint health', { exit: text.exitCode, lines });
      const json = await ctx.target.ctl(['endpoint', 'health', '-w', 'json']);
      let parsed: Msg[] = [];
      try {
        parsed = JSON.parse(json.stdout);
      } catch {
        // recorded as empty
      }
      ctx.note('etcdctl endpoint health -w json', {
        exit: json.exitCode,
        health: parsed.map((p) => p.health).sort(),
        fields: parsed.map((p) => Object.keys(p).sort()),
      });
      await ctx.ctl('etcdctl endpoint health --cluster', ['endpoint', 'health', '--cluster', '-w', 'json'], {
        transform: (s) => {
          try {
            return (JSON.parse(s) as Msg[]).map((p) => p.health).sort();
          } catch {
            return s;
          }
        },
      });
    },
  },
  {
    id: 'follower-writes',
    name: 'a follower forwards writes: put, txn, delete, compare-and-swap, lease grant and revoke through it alone',
    async run(ctx) {
      const follower = ctx.target.endpoints[await ctx.target.followerIndex()]!;
      const leader = ctx.target.endpoints[await ctx.target.leaderIndex()]!;
      const viaFollower = ctx.target.client([follower]);
      const kv = viaFollower.kv as unknown as ReturnType<typeof kvOf>;
      const leases = viaFollower.leaseClient as unknown as ReturnType<typeof leaseOf>;
      await ctx.step('put', kv.put({ key: ctx.key('a'), value: b('1'), prev_kv: true }));
      await ctx.step('put again', kv.put({ key: ctx.key('a'), value: b('2'), prev_kv: true }));
      await ctx.step(
        'txn',
        kv.txn({
          compare: [{ key: ctx.key('a'), target: TARGET.VALUE, result: CMP.EQUAL, value: b('2') }],
          success: [
            { request_put: { key: ctx.key('b'), value: b('t') } },
            { request_range: { key: ctx.key('a') } },
          ],
          failure: [],
        }),
      );
      const lease: Msg = await ctx.must('lease grant', leases.leaseGrant({ TTL: 60 }));
      await ctx.step('put with lease', kv.put({ key: ctx.key('l'), value: b('x'), lease: lease.ID }));
      await ctx.step('delete', kv.deleteRange({ key: ctx.key('a'), prev_kv: true }));
      await ctx.step(
        'linearizable read on the follower',
        kv.range({ key: ctx.key(), range_end: ctx.prefixEnd() }),
      );
      const onLeader = rawClient(leader);
      try {
        await ctx.step(
          'read on the leader',
          unary(onLeader.kv, 'Range', { key: ctx.key(), range_end: ctx.prefixEnd() }),
        );
      } finally {
        onLeader.close();
      }
      await ctx.step('lease revoke', leases.leaseRevoke({ ID: lease.ID }));
      await ctx.ctl('etcdctl put via the follower', ['put', `${ctx.prefix}c`, 'ctl'], {
        endpoints: [follower],
      });
      await ctx.ctl('etcdctl get via the follower', ['get', '--prefix', ctx.prefix, '-w', 'json'], {
        endpoints: [follower],
        json: true,
      });
      await ctx.step(
        'final keys',
        kvOf(ctx).range({ key: ctx.key(), range_end: ctx.prefixEnd(), keys_only: true }),
      );
    },
  },
  {
    id: 'maintenance',
    name: 'Maintenance: HashKV equal on every member (and its errors), Defragment, alarm list',
    async run(ctx) {
      const kv = kvOf(ctx);
      await ctx.must('put', kv.put({ key: ctx.key('a'), value: b('1') }));
      // Every member has applied the put once a linearizable read on it sees it.
      const hashes: string[] = [];
      for (const [i, endpoint] of ctx.target.endpoints.entries()) {
        const raw = rawClient(endpoint);
        try {
          await until(async () => {
            const r: Msg = await unary(raw.kv, 'Range', { key: ctx.key('a'), serializable: true });
            return r.kvs.length === 1 ? r : undefined;
          }, 5000);
          const h: Msg = await unary(raw.maintenance, 'HashKV', { revision: 0 });
          hashes.push(String(h.hash));
          // hash_revision is etcd 3.5's (3.4 does not send it): not compared.
          ctx.record(`hashkv of member ${i + 1}`, {
            header: h.header,
            compactRevisionSet: Number(h.compact_revision) > 0,
            hashNonZero: Number(h.hash) !== 0,
          });
        } finally {
          raw.close();
        }
      }
      ctx.expect('the same hash on every member', new Set(hashes).size === 1, hashes.join(','));
      await ctx.step(
        'hashkv at a future revision',
        unary(ctx.raw.maintenance, 'HashKV', { revision: ctx.abs(1000) }),
      );
      // Hash values are each implementation's own (and etcd says compact_revision -1 before any
      // compaction, we say 0): only "compacted or not" is compared. Earlier cases compacted.
      const early = await unary(ctx.raw.maintenance, 'HashKV', { revision: 1 }).then(
        () => 'answered',
        (e) => normalError(e),
      );
      ctx.note('hashkv at revision 1 (compacted by earlier cases)', early);
      const one = { endpoints: [ctx.target.endpoints[0]!] };
      await ctx.ctl('etcdctl defrag', ['defrag'], {
        ...one,
        transform: (out) => out.replace(/\[[^\]]+\]/, '[member 1]'),
      });
      await ctx.ctl('etcdctl alarm list', ['alarm', 'list'], one);
      await ctx.step('read after defrag', unary(ctx.raw.kv, 'Range', { key: ctx.key('a') }));
    },
  },
  {
    // Last: it kills a member, so it runs after every case that uses all three.
    id: 'follower-restart',
    name: 'a follower killed (SIGKILL) while writes go on, then restarted, catches up and serves them',
    timeoutMs: 45_000,
    async run(ctx) {
      const leader = await ctx.target.leaderIndex();
      const follower = await ctx.target.followerIndex();
      const viaLeader = rawClient(ctx.target.endpoints[leader]!);
      let onFollower: ReturnType<typeof rawClient> | undefined;
      try {
        await ctx.target.kill(follower, 'SIGKILL');
        for (let i = 0; i < 20; i++) {
          await ctx.must(
            `put k${i} with a member down`,
            unary(viaLeader.kv, 'Put', { key: ctx.key(`k${i}`), value: b(`${i}`) }),
          );
        }
        await ctx.must(
          'delete k0 with a member down',
          unary(viaLeader.kv, 'DeleteRange', { key: ctx.key('k0') }),
        );
        const all = { key: ctx.key(), range_end: ctx.prefixEnd() };
        await ctx.step('read on the leader', unary(viaLeader.kv, 'Range', { ...all, keys_only: true }));
        await ctx.target.restart(follower);
        onFollower = rawClient(ctx.target.endpoints[follower]!);
        const client = onFollower;
        // Serializable reads on the restarted member until it has applied everything (bounded).
        const caughtUp = await until(
          async () => {
            const r: Msg = await unary(
              client.kv,
              'Range',
              { ...all, serializable: true, count_only: true },
              2000,
            );
            return Number(r.count) === 19 ? r : undefined;
          },
          20_000,
          100,
        );
        ctx.expect('the restarted follower catches up', caughtUp !== undefined);
        await ctx.step(
          'linearizable read on the restarted follower',
          unary(client.kv, 'Range', { ...all, keys_only: true }),
        );
        await ctx.step(
          'old revision read on the restarted follower',
          unary(client.kv, 'Range', { ...all, keys_only: true, revision: ctx.abs(10) }),
        );
        await ctx.step(
          'write through the restarted follower',
          unary(client.kv, 'Put', { key: ctx.key('after'), value: b('1') }),
        );
      } finally {
        viaLeader.close();
        onFollower?.close();
      }
    },
  },
];
