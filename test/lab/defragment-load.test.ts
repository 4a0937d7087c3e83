/**
 * Maintenance that must not stall Raft: a Defragment on the leader of a 3-node lab whose
 * datastore holds ~100 MB (and a quarter of that again as free pages) runs while the leader keeps
 * sending heartbeats: no follower starts an election, the term and the leader stay the same. A
 * HashKV of the same store, and a second Defragment while one runs (refused), likewise.
 */
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Etcd3 } from 'etcd3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labStatus } from '../../src/lab/processes.js';
import { eventually, startLab, type TestLab } from './helpers.js';

const VALUE_BYTES = 64 * 1024;
/** 1600 values of 64 KiB: ~100 MB of live data. */
const KEYS = 1600;
const PARALLEL_PUTS = 8;
/** A few election timeouts (1-2 s each at the lab's 100 ms ticks): a late election shows by then. */
const SETTLE_MS = 4000;
/** Anti-hang guard for filling the store; not a timing claim. */
const FILL_GUARD_MS = 600_000;

const run = promisify(execFile);

let lab: TestLab;

test.before(async () => {
  lab = await startLab(3, '127.0.43.1');
});
test.after(async () => {
  await lab?.down();
});

async function fill(client: Etcd3, keys: number[], tag: string): Promise<void> {
  const value = Buffer.alloc(VALUE_BYTES, tag);
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const i = keys[next++]!;
      await client.put(`fill/${String(i).padStart(5, '0')}`).value(value);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_PUTS }, worker));
}

/** Every running node's term and leader, polled until `until` resolves. */
async function watchTerms(until: Promise<unknown>): Promise<Set<string>> {
  const seen = new Set<string>();
  let done = false;
  until.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  for (let i = 0; i < 10_000 && !done; i++) {
    for (const n of await labStatus(lab.dir)) if (n.running) seen.add(`${n.term}/${n.leader}`);
    await sleep(100);
  }
  return seen;
}

test('a Defragment of ~100 MB on the leader: no election, same term and leader', async () => {
  const client = lab.client();
  const all = Array.from({ length: KEYS }, (_, i) => i);
  const started = Date.now();
  const filled = fill(client, all, 'a');
  await Promise.race([
    filled,
    sleep(FILL_GUARD_MS, undefined, { ref: false }).then(() => Promise.reject(new Error('fill hung'))),
  ]);
  // A quarter overwritten and the old revisions compacted: free pages for Defragment to return.
  await fill(
    client,
    all.filter((i) => i % 4 === 0),
    'b',
  );
  console.log(`  filled in ${Date.now() - started} ms`);
  const revision = Number((await client.get('fill/00000').exec()).header.revision);
  await client.kv.compact({ revision, physical: true } as never);

  await eventually(
    async () => {
      const nodes = await labStatus(lab.dir);
      if (!nodes.some((n) => n.state === 'leader')) throw new Error('no leader yet');
    },
    30_000,
    'a leader',
  );
  const before = await labStatus(lab.dir);
  const leader = before.find((n) => n.state === 'leader')!;
  const onLeader = lab.client([leader.name]);
  const sizeBefore = Number((await onLeader.maintenance.status()).dbSize);
  assert.ok(sizeBefore > 100 * 1024 * 1024, `the leader's store is ${sizeBefore} bytes`);

  const work = (async () => {
    const defrag = onLeader.maintenance.defragment();
    // A second one while the first runs is refused, not queued behind it.
    // (Its own client: the etcd3 client opens a circuit breaker on a host after such a refusal.)
    const second = await lab
      .client([leader.name])
      .maintenance.defragment()
      .then(
        () => undefined,
        (error: Error) => error,
      );
    await defrag;
    // etcdctl: the etcd3 npm client has no working HashKV (it calls a method its stub lacks).
    const hash = JSON.parse(
      (
        await run('etcdctl', [`--endpoints=${leader.clientEndpoint}`, 'endpoint', 'hashkv', '-w', 'json'], {
          env: { ...process.env, ETCDCTL_API: '3' },
          timeout: 120_000,
        })
      ).stdout,
    )[0].HashKV as { hash: number };
    await sleep(SETTLE_MS);
    return { second, hash };
  })();
  const seen = await watchTerms(work);
  const { second, hash } = await work;

  assert.equal([...seen], [`${leader.term}/${leader.id}`], 'every poll saw the same term and leader');
  const after = await labStatus(lab.dir);
  for (const n of after) {
    assert.is(n.term, leader.term, `${n.name}: term unchanged`);
    assert.is(n.leader, leader.id, `${n.name}: leader unchanged`);
  }
  console.log(`  polls saw ${[...seen].join(', ')}`);
  const sizeAfter = Number((await onLeader.maintenance.status()).dbSize);
  assert.ok(sizeAfter < sizeBefore, `Defragment returned pages: ${sizeBefore} -> ${sizeAfter}`);
  assert.ok(Number(hash.hash) !== 0, 'HashKV answered');
  // The second Defragment either found the first finished (a fast disk) or was refused clearly.
  if (second) assert.match(String(second.message), /too many requests|already running/);
});

test.run();
