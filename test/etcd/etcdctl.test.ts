/**
 * The etcd API against the real `etcdctl` (v3 API), on the single-node LocalBackend
 * (test/etcd/local-backend.ts), with both endpoint spellings: "127.0.0.1:PORT" and
 * "http://127.0.0.1:PORT".
 */
import { spawn } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type RunFileResult, runFile } from '../../src/lib/run-file.js';
import { eventually, type Harness, startHarness } from './helpers.js';

let h: Harness;

const CTL_TIMEOUT_MS = 15_000;

async function ctl(
  args: string[],
  options: { input?: string; timeout?: number; endpoint?: string } = {},
): Promise<RunFileResult> {
  const endpoint = options.endpoint ?? h.address;
  return runFile(
    'etcdctl',
    [`--endpoints=${endpoint}`, '--dial-timeout=5s', '--command-timeout=10s', ...args],
    {
      env: { ...process.env, ETCDCTL_API: '3' },
      input: options.input ?? '',
      timeoutMs: options.timeout ?? CTL_TIMEOUT_MS,
    },
  );
}

async function ok(args: string[], options: { input?: string; endpoint?: string } = {}): Promise<string> {
  const r = await ctl(args, options);
  if (r.exitCode !== 0) throw new Error(`etcdctl ${args.join(' ')} failed (${r.exitCode}): ${r.stderr}`);
  return r.stdout;
}

const unb64 = (s: string) => Buffer.from(s, 'base64').toString();

test.before(async () => {
  h = await startHarness({ backend: { clientURLs: ['http://127.0.0.1:2379'] } });
});

test.after(async () => {
  await h.close();
});

test('put, get, get --prefix --limit, --keys-only, --from-key, sort, del', async () => {
  for (const endpoint of [h.address, `http://${h.address}`]) {
    assert.is((await ok(['put', '/ctl/a', '1'], { endpoint })).trim(), 'OK');
  }
  await ok(['put', '/ctl/b', '2']);
  await ok(['put', '/ctl/c', '3']);
  assert.is(await ok(['get', '/ctl/a'], { endpoint: `http://${h.address}` }), '/ctl/a\n1\n');
  assert.is(await ok(['get', '--prefix', '/ctl/', '--limit', '2']), '/ctl/a\n1\n/ctl/b\n2\n');
  const json = JSON.parse(await ok(['get', '--prefix', '/ctl/', '--limit', '2', '-w', 'json']));
  assert.is(json.count, 3);
  assert.is(json.more, true);
  assert.equal(
    json.kvs.map((kv: { key: string }) => unb64(kv.key)),
    ['/ctl/a', '/ctl/b'],
  );
  assert.is(await ok(['get', '--prefix', '/ctl/', '--keys-only']), '/ctl/a\n\n/ctl/b\n\n/ctl/c\n\n');
  assert.is(await ok(['get', '/ctl/b', '--from-key', '--keys-only']), '/ctl/b\n\n/ctl/c\n\n');
  assert.is(
    await ok(['get', '--prefix', '/ctl/', '--sort-by=KEY', '--order=DESCEND', '--print-value-only']),
    '3\n2\n1\n',
  );
  assert.is(await ok(['put', '/ctl/a', '1b', '--prev-kv']), 'OK\n/ctl/a\n1\n');
  assert.is(await ok(['del', '/ctl/b']), '1\n');
  assert.is(await ok(['del', '--prefix', '/ctl/', '--prev-kv']), '2\n/ctl/a\n1b\n/ctl/c\n3\n');
  assert.is(await ok(['get', '--prefix', '/ctl/']), '');
});

test('get --rev reads an old revision', async () => {
  const first = JSON.parse(await ok(['put', '/rev/k', 'one', '-w', 'json']));
  await ok(['put', '/rev/k', 'two']);
  assert.is(await ok(['get', '/rev/k', `--rev=${first.header.revision}`, '--print-value-only']), 'one\n');
  assert.is(await ok(['get', '/rev/k', '--print-value-only', '--consistency=s']), 'two\n');
});

test('txn from stdin: success and failure branches', async () => {
  await ok(['put', '/txn/k', 'v1']);
  const input = ['value("/txn/k") = "v1"', '', 'put /txn/k v2', '', 'get /txn/k', '', ''].join('\n');
  assert.is(await ok(['txn'], { input }), 'SUCCESS\n\nOK\n');
  assert.is(await ok(['txn'], { input }), 'FAILURE\n\n/txn/k\nv2\n');
  const modInput = ['mod("/txn/new") = "0"', '', 'put /txn/new created', '', '', ''].join('\n');
  assert.is(await ok(['txn'], { input: modInput }), 'SUCCESS\n\nOK\n');
  assert.is(await ok(['txn'], { input: modInput }), 'FAILURE\n');
});

test('watch --rev replays history (bounded by a timeout), a live watch sees new puts', async () => {
  const start = JSON.parse(await ok(['put', '/watch/k', 'a', '-w', 'json'])).header.revision;
  await ok(['put', '/watch/k', 'b']);
  await ok(['del', '/watch/k']);
  const replay = await ctl(['watch', '/watch/k', `--rev=${start}`], { timeout: 2000 });
  assert.ok(replay.timedOut, 'watch runs until stopped');
  assert.is(replay.stdout, 'PUT\n/watch/k\na\nPUT\n/watch/k\nb\nDELETE\n/watch/k\n\n');
  const live = spawn(
    'etcdctl',
    [`--endpoints=http://${h.address}`, 'watch', '--prefix', '/live/', '--prev-kv'],
    {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: CTL_TIMEOUT_MS,
    },
  );
  const exited = new Promise((resolve) => live.once('exit', resolve));
  let out = '';
  live.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  try {
    // The watch is created asynchronously: write until it reports.
    await eventually(
      async () => {
        await ok(['put', '/live/x', 'v']);
        return out.includes('/live/x');
      },
      10_000,
      'live watch output',
    );
    assert.match(out, 'PUT\n/live/x\nv\n');
  } finally {
    live.kill('SIGTERM');
    await exited;
  }
});

test('lease grant, put --lease, keep-alive --once, timetolive --keys, list, revoke', async () => {
  const grant = await ok(['lease', 'grant', '60']);
  const match = /^lease ([0-9a-f]+) granted with TTL\(60s\)/.exec(grant);
  assert.ok(match, grant);
  const id = match![1]!;
  await ok(['put', '/lease/k', 'v', `--lease=${id}`]);
  assert.is(await ok(['lease', 'keep-alive', '--once', id]), `lease ${id} keepalived with TTL(60)\n`);
  const ttl = await ok(['lease', 'timetolive', id, '--keys']);
  assert.match(
    ttl,
    new RegExp(
      `^lease ${id} granted with TTL\\(60s\\), remaining\\((59|60)s\\), attached keys\\(\\[/lease/k\\]\\)`,
    ),
  );
  assert.match(await ok(['lease', 'list']), id);
  assert.is(await ok(['lease', 'revoke', id]), `lease ${id} revoked\n`);
  assert.is(await ok(['get', '/lease/k']), '');
  assert.is(await ok(['lease', 'timetolive', id]), `lease ${id} already expired\n`);
  const revoked = await ctl(['lease', 'revoke', id]);
  assert.is.not(revoked.exitCode, 0);
  assert.match(revoked.stderr, 'etcdserver: requested lease not found');
  // The server answers TTL 0 for an unknown lease; clientv3 turns that into ErrLeaseNotFound.
  const once = await ctl(['lease', 'keep-alive', '--once', id]);
  assert.is.not(once.exitCode, 0);
  assert.match(once.stderr, 'etcdserver: requested lease not found');
});

test('compaction, then reads and watches below it fail with etcd messages', async () => {
  const r1 = JSON.parse(await ok(['put', '/cmp/k', '1', '-w', 'json'])).header.revision;
  const r2 = JSON.parse(await ok(['put', '/cmp/k', '2', '-w', 'json'])).header.revision;
  assert.is(await ok(['compaction', String(r2), '--physical']), `compacted revision ${r2}\n`);
  const old = await ctl(['get', '/cmp/k', `--rev=${r1}`]);
  assert.is.not(old.exitCode, 0);
  assert.match(old.stderr, 'etcdserver: mvcc: required revision has been compacted');
  const future = await ctl(['get', '/cmp/k', `--rev=${r2 + 1000}`]);
  assert.match(future.stderr, 'etcdserver: mvcc: required revision is a future revision');
  const again = await ctl(['compaction', String(r1)]);
  assert.match(again.stderr, 'etcdserver: mvcc: required revision has been compacted');
  const watch = await ctl(['watch', '/cmp/k', `--rev=${r1}`], { timeout: 5000 });
  assert.not.ok(watch.timedOut, 'a compacted watch ends by itself');
  assert.match(watch.stdout + watch.stderr, 'etcdserver: mvcc: required revision has been compacted');
});

test('endpoint status -w json, member list, endpoint health', async () => {
  for (const endpoint of [h.address, `http://${h.address}`]) {
    const raw = await ok(['endpoint', 'status', '-w', 'json'], { endpoint });
    const [status] = JSON.parse(raw);
    assert.is(status.Endpoint, endpoint);
    assert.is(status.Status.version, '3.5.13');
    // uint64 ids do not survive JSON.parse: compare the text.
    const member = h.backend.header().memberId.toString();
    assert.match(raw, `"member_id":${member},`);
    assert.match(raw, `"leader":${member},`);
    assert.match(raw, `"cluster_id":${h.backend.header().clusterId.toString()},`);
    assert.is(status.Status.raftTerm, 2);
    assert.ok(status.Status.dbSize > 0);
    assert.ok(status.Status.raftIndex > 0);
    // etcdctl 3.4 prints the health line on stderr.
    const health = await ctl(['endpoint', 'health'], { endpoint });
    assert.is(health.exitCode, 0);
    assert.match(health.stdout + health.stderr, `${endpoint} is healthy: successfully committed proposal`);
  }
  assert.is(
    await ok(['member', 'list']),
    `8e9e05c52164694d, started, local, https://127.0.0.1:2380, http://127.0.0.1:2379, false\n`,
  );
  const members = JSON.parse(await ok(['member', 'list', '-w', 'json']));
  assert.is(members.members.length, 1);
  assert.is(members.members[0].name, 'local');
  assert.equal(members.members[0].clientURLs, ['http://127.0.0.1:2379']);
  // Responses carry etcd's header: the ids print in hex in the table form.
  assert.match(await ok(['endpoint', 'status', '-w', 'table']), '3.5.13');
});

test.run();
