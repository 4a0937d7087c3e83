/**
 * `dbctl backup` and `dbctl restore` across nodes and clusters, as a user runs them (the built
 * CLI, one MICROK8S_HOME per node): a backup taken on a node of one cluster is restored on a
 * fresh node set up alone (a new cluster, its own data folder), which then grows by add-node /
 * join; damaged archives are refused and change nothing. Real datastore and agent processes on
 * 127.0.19.x loopback addresses.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labAddNode } from '../../src/lab/moves.js';
import { labStatus } from '../../src/lab/processes.js';
import { readLab } from '../../src/lab/spec.js';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { resolvePaths } from '../../src/lib/paths.js';
import {
  type KeyspaceArchive,
  keyspaceDigest,
  readArchive,
  readKeyspace,
} from '../../src/lifecycle/backup.js';
import { nodeEtcdSocket } from '../../src/lifecycle/datastore-socket.js';
import { boundedClient, eventually, nodeHash, startLab, type TestLab } from '../lab/helpers.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const LIMITS = { cliTimeoutMs: 60_000, joinTimeoutMs: 60_000, keys: 1_200 } as const;

let source: TestLab;
let target: TestLab;

test.before(async () => {
  source = await startLab(1, '127.0.19.1', [], { formation: 'join', agentPort: 25019 });
  target = await startLab(1, '127.0.19.11', [], { formation: 'join', agentPort: 25029 });
});
test.after(async () => {
  await source?.down();
  await target?.down();
});

function home(lab: TestLab, name: string): string {
  const node = readLab(lab.dir).nodes.find((n) => n.name === name);
  assert.ok(node?.home, `${name} has a MICROK8S_HOME`);
  return node!.home!;
}

/** `microk8s dbctl ARGS` as the user of one lab node runs it. */
function dbctl(lab: TestLab, name: string, args: readonly string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, MICROK8S_HOME: home(lab, name), FORCE_COLOR: '0' };
  delete env.SNAP;
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'run.js'), 'dbctl', ...args], {
    env,
    encoding: 'utf8',
    timeout: LIMITS.cliTimeoutMs,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The node's keyspace through its own etcd unix socket (keys on a lease aside). */
function keyspaceOf(lab: TestLab, name: string) {
  return readKeyspace(nodeEtcdSocket(resolvePaths({ MICROK8S_HOME: home(lab, name) })));
}

let archiveFile = '';
let archive: KeyspaceArchive;
/** The target cluster's own records a restore kept over the archive (keys as text). */
let kept = new Set<string>();
let joinedName = '';

test('dbctl backup on a node of one cluster: every key at one revision, keys on a lease left out', async () => {
  const client = source.client();
  for (let i = 0; i < LIMITS.keys; i += 100) {
    await Promise.all(
      Array.from({ length: 100 }, (_, j) =>
        client.put(`data/${String(i + j).padStart(5, '0')}`).value(randomBytes(64 + ((i + j) % 200))),
      ),
    );
  }
  const lease = client.lease(600);
  await lease.put('leased/session').value('goes with its lease');
  archiveFile = join(source.dir, 'backup.json');
  const r = dbctl(source, 'node1', ['backup', '-o', archiveFile]);
  await lease.revoke();
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, '(1 keys on a lease left out)');
  archive = readArchive(archiveFile);
  const live = await keyspaceOf(source, 'node1');
  assert.is(archive.kvs.length, live.kvs.length);
  assert.ok(archive.kvs.length >= LIMITS.keys, `${archive.kvs.length} keys`);
  assert.is(archive.sha256, keyspaceDigest(live.kvs));
  console.log(`  backup: ${archive.kvs.length} keys, ${readFileSync(archiveFile).length} bytes`);
});

test('damaged archives (any byte flipped, truncated) are refused with MK_DATA_CORRUPTION', () => {
  const bytes = readFileSync(archiveFile);
  // Every byte of the header (format, revision, time, checksums) and of the end, and positions
  // spread over the key list.
  const positions = new Set<number>();
  for (let i = 0; i < 400; i++) positions.add(i);
  for (let i = 1; i <= 40; i++) positions.add(bytes.length - i);
  for (let i = 0; i < 200; i++) positions.add(Math.floor((bytes.length * i) / 200));
  const probe = join(source.dir, 'probe.json');
  const accepted: number[] = [];
  const refusedAs = (text: Buffer) => {
    writeFileSync(probe, text);
    try {
      readArchive(probe);
      return 'accepted';
    } catch (error) {
      return isMicroK8sError(error, 'MK_DATA_CORRUPTION') ? 'refused' : String(error);
    }
  };
  for (const at of positions) {
    const flipped = Buffer.from(bytes);
    flipped[at] = flipped[at]! ^ 0xff;
    const answer = refusedAs(flipped);
    if (answer !== 'refused') accepted.push(at);
  }
  for (const length of [0, 1, 100, bytes.length >> 1, bytes.length - 2]) {
    const answer = refusedAs(bytes.subarray(0, length));
    assert.is(answer, 'refused', `truncated to ${length} bytes`);
  }
  assert.equal(accepted, [], `flipped bytes accepted at ${accepted.slice(0, 10).join(', ')}`);
});

test('dbctl restore on a fresh node set up alone: a damaged archive changes nothing, the archive gives every key back', async () => {
  const bytes = readFileSync(archiveFile);
  const flipped = Buffer.from(bytes);
  const middle = bytes.length >> 1;
  flipped[middle] = flipped[middle]! ^ 0xff;
  const damaged = join(target.dir, 'flipped.json');
  const truncated = join(target.dir, 'truncated.json');
  writeFileSync(damaged, flipped);
  writeFileSync(truncated, bytes.subarray(0, bytes.length - 100));
  const before = await nodeHash(target.dir, 'node1');
  const fresh = await keyspaceOf(target, 'node1');
  for (const file of [damaged, truncated]) {
    const refused = dbctl(target, 'node1', ['restore', file]);
    assert.is(refused.code, 5, refused.stdout + refused.stderr);
    assert.match(refused.stderr, 'MK_DATA_CORRUPTION');
    // Not one write: the same revision, the same hash.
    assert.equal(await nodeHash(target.dir, 'node1'), before, `${file} changed nothing`);
  }
  const r = dbctl(target, 'node1', ['restore', archiveFile]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, `restored ${archive.kvs.length} keys (`);
  // Both clusters' first node is named node1: the fresh node keeps its own claim to the name.
  assert.match(r.stdout, "kept /microk8s/node-names/node1: the name of one of this cluster's nodes");
  kept = new Set(
    r.stdout
      .split('\n')
      .filter((line) => line.startsWith('kept '))
      .map((line) => line.slice(5, line.indexOf(': '))),
  );
  assert.equal([...kept], ['/microk8s/node-names/node1']);
  const restored = await keyspaceOf(target, 'node1');
  assert.is(restored.kvs.length, archive.kvs.length, 'as many keys as the archive');
  assert.equal(
    restored.kvs.map((kv) => kv.key),
    archive.kvs.map((kv) => kv.key),
    'the same keys',
  );
  const digest = (kvs: readonly { key: string; value: string }[]) =>
    keyspaceDigest(kvs.filter((kv) => !kept.has(Buffer.from(kv.key, 'base64').toString())));
  assert.is(digest(restored.kvs), digest(archive.kvs), 'the same values but the kept claim');
  assert.is(digest(restored.kvs), digest((await keyspaceOf(source, 'node1')).kvs));
  const claim = (kvs: typeof fresh.kvs) =>
    kvs.find((kv) => kept.has(Buffer.from(kv.key, 'base64').toString()));
  assert.equal(claim(restored.kvs), claim(fresh.kvs), "the fresh node's own claim");
});

test('the restored cluster grows by join: the joined node has the same keys', async () => {
  const joined = await labAddNode(target.dir);
  joinedName = joined.name;
  const leader = await nodeHash(target.dir, 'node1');
  // The join writes records of its own (the new node's name claim); once the new node has
  // applied everything, both replicas hash the same.
  const same = await eventually(
    async () => {
      const [a, b] = [await nodeHash(target.dir, 'node1'), await nodeHash(target.dir, joined.name)];
      if (a.hash !== b.hash || a.revision !== b.revision) throw new Error(`${a.revision} vs ${b.revision}`);
      return a;
    },
    LIMITS.joinTimeoutMs,
    `${joined.name} caught up`,
  );
  assert.ok(same.revision >= leader.revision);
  const theirs = await keyspaceOf(target, joined.name);
  const byKey = new Map(theirs.kvs.map((kv) => [kv.key, kv.value]));
  const missing = archive.kvs.filter(
    (kv) => byKey.get(kv.key) !== kv.value && !kept.has(Buffer.from(kv.key, 'base64').toString()),
  );
  assert.is(missing.length, 0, `${missing.length} archived keys missing or different on ${joined.name}`);
  const archived = new Set(archive.kvs.map((kv) => kv.key));
  const extra = theirs.kvs
    .filter((kv) => !archived.has(kv.key))
    .map((kv) => Buffer.from(kv.key, 'base64').toString());
  assert.ok(
    extra.every((key) => key.startsWith('/microk8s/')),
    `only the join's own records are new: ${extra.join(', ')}`,
  );
  console.log(`  ${joined.name} joined the restored cluster; keys written by the join: ${extra.join(', ')}`);
});

test('restored again on the joined node: the member ids issued and the certificate records are not rolled back', async () => {
  const before = await keyspaceOf(target, joinedName);
  const r = dbctl(target, joinedName, ['restore', archiveFile]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, `restored ${archive.kvs.length} keys (0 written, 0 others deleted)`);
  assert.match(r.stdout, 'kept /microk8s/members/highest-id: member ids up to 2 were issued: never lowered');
  assert.match(r.stdout, /kept \/microk8s\/certs\/[0-9a-f]+: a certificate record of this cluster/);
  assert.match(r.stdout, "kept /microk8s/node-names/node2: the name of one of this cluster's nodes");
  const after = await keyspaceOf(target, joinedName);
  assert.is(keyspaceDigest(after.kvs), keyspaceDigest(before.kvs), 'nothing to change');
  // The cluster goes on: a write through the restored, grown cluster reaches both nodes.
  await target.client().put('after/restore').value('ok');
  const node = (await labStatus(target.dir)).find((n) => n.name === joinedName)!;
  const far = boundedClient([node.clientEndpoint], 3_000, readLab(target.dir).clientTls);
  assert.is(await eventually(async () => far.get('after/restore').string(), 10_000, 'the write'), 'ok');
});

test.run();
