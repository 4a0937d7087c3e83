// Multi-process tests of the HA datastore: real node processes, real mutual TLS between them,
// loopback addresses of their own (127.0.4.x), driven by the real etcd3 client.

import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect } from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureClusterCa, issueCertificate } from '../../src/cluster/pki.js';
import { labSignal, labStart, labStatus } from '../../src/lab/processes.js';
import { readLab } from '../../src/lab/spec.js';
import { eventually, nodeHash, startLab, type TestLab } from './helpers.js';

let lab: TestLab;

test.before(async () => {
  lab = await startLab(3, '127.0.4.1', ['--snapshot-entries=200', '--compaction-lag=20']);
});
test.after(async () => {
  await lab?.down();
});

test('a 3-node lab takes writes through every node and reads them back from every node', async () => {
  const status = await labStatus(lab.dir);
  assert.is(status.length, 3);
  assert.is(status.filter((n) => n.state === 'leader').length, 1, 'one leader');
  assert.ok(status.every((n) => n.role === 'voter'));
  for (const node of status) {
    const c = lab.client([node.name]);
    await c.put(`hello/${node.name}`).value(`from ${node.name}`);
  }
  for (const node of status) {
    const c = lab.client([node.name]);
    const all = await c.getAll().prefix('hello/').strings();
    assert.equal(
      Object.keys(all).sort(),
      ['hello/node1', 'hello/node2', 'hello/node3'],
      `read on ${node.name}`,
    );
  }
});

test('kill -9 of the leader: a new leader, writes resume, no acknowledged write is lost', async () => {
  const client = lab.client();
  const acknowledged = new Map<string, string>();
  let stop = false;
  let failures = 0;
  const writer = (async () => {
    for (let i = 0; i < 5000 && !stop; i++) {
      const key = `ack/${String(i).padStart(5, '0')}`;
      try {
        await client.put(key).value(`v${i}`);
        acknowledged.set(key, `v${i}`);
      } catch {
        failures++;
        await sleep(20);
      }
    }
  })();
  await sleep(500);
  const old = (await lab.leader())!;
  assert.ok(old, 'a leader before the kill');
  const before = acknowledged.size;
  await labSignal(lab.dir, old.name, 'SIGKILL');
  const fresh = await eventually(
    async () => {
      const l = await lab.leader();
      if (!l || l.name === old.name) throw new Error('no new leader yet');
      return l;
    },
    15_000,
    'a new leader',
  );
  assert.is.not(fresh.name, old.name);
  await eventually(
    async () => {
      if (acknowledged.size < before + 50)
        throw new Error(`only ${acknowledged.size - before} writes since the kill`);
    },
    20_000,
    'writes resume',
  );
  stop = true;
  await writer;
  console.log(`  ${acknowledged.size} writes acknowledged, ${failures} failed during the failover`);
  await labStart(lab.dir, old.name);
  const restarted = lab.client([old.name]);
  await eventually(
    async () => {
      const got = await restarted.getAll().prefix('ack/').strings();
      for (const [k, v] of acknowledged) if (got[k] !== v) throw new Error(`${k} missing on ${old.name}`);
    },
    20_000,
    `${old.name} catches up with every acknowledged write`,
  );
});

test('a node down for a long time catches up by snapshot', async () => {
  const victim = (await labStatus(lab.dir)).find((n) => n.state !== 'leader')!;
  await labSignal(lab.dir, victim.name, 'SIGTERM');
  const client = lab.client(
    readLab(lab.dir)
      .nodes.filter((n) => n.name !== victim.name)
      .map((n) => n.name),
  );
  for (let i = 0; i < 600; i++) await client.put(`bulk/${i}`).value('x'.repeat(100));
  await labStart(lab.dir, victim.name);
  await eventually(
    async () => {
      const [a, b] = await Promise.all(
        readLab(lab.dir)
          .nodes.map((n) => nodeHash(lab.dir, n.name))
          .slice(0, 2),
      );
      const v = await nodeHash(lab.dir, victim.name);
      if (v.revision !== a!.revision || v.hash !== a!.hash || a!.hash !== b!.hash)
        throw new Error('not converged');
    },
    30_000,
    `${victim.name} converges`,
  );
  const log = readFileSync(
    join(readLab(lab.dir).nodes.find((n) => n.name === victim.name)!.dataDir, 'datastore.log'),
    'utf8',
  );
  assert.match(log, /installed a snapshot from the leader/, 'it was caught up by a snapshot');
});

test('kill -9 during a burst of writes, then restart: the node recovers to the same state as the others', async () => {
  const victim = (await labStatus(lab.dir)).find((n) => n.state !== 'leader')!;
  const client = lab.client();
  const burst = Promise.allSettled(
    Array.from({ length: 400 }, (_, i) => client.put(`burst/${i}`).value(`b${i}`)),
  );
  await sleep(150);
  await labSignal(lab.dir, victim.name, 'SIGKILL');
  await burst;
  await labStart(lab.dir, victim.name);
  await eventually(
    async () => {
      const hashes = await Promise.all(readLab(lab.dir).nodes.map((n) => nodeHash(lab.dir, n.name)));
      if (new Set(hashes.map((h) => `${h.hash}@${h.revision}`)).size !== 1)
        throw new Error(JSON.stringify(hashes));
    },
    30_000,
    'identical key spaces on every node',
  );
});

test('bad frames, random bytes and a wrong certificate on the peer port leave the cluster healthy', async () => {
  const target = readLab(lab.dir).nodes[0]!;
  // Random bytes over plain TCP.
  await new Promise<void>((resolve) => {
    const s = connect({ host: target.address, port: target.peerPort }, () => {
      s.write(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)));
      setTimeout(() => s.destroy(), 200);
    });
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
  // A certificate from another CA.
  const otherDir = join(lab.dir, 'other-ca');
  const otherCa = await ensureClusterCa(otherDir);
  const rogue = await issueCertificate(otherCa, join(otherDir, 'rogue'), 'peer', {
    commonName: 'node-2',
    usage: 'peer',
    ips: ['127.0.4.9'],
  });
  await new Promise<void>((resolve) => {
    const s = tlsConnect({
      host: target.address,
      port: target.peerPort,
      cert: readFileSync(rogue.certPath),
      key: readFileSync(rogue.keyPath),
      rejectUnauthorized: false,
    });
    s.on('secureConnect', () => s.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])));
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    setTimeout(() => {
      s.destroy();
      resolve();
    }, 2000);
  });
  // The cluster still works and every node still runs.
  const client = lab.client();
  await client.put('after/bad-input').value('ok');
  assert.is(await client.get('after/bad-input').string(), 'ok');
  const status = await labStatus(lab.dir);
  assert.ok(
    status.every((n) => n.running),
    'every node still runs',
  );
  assert.is(status.filter((n) => n.state === 'leader').length, 1);
});

test.run();
