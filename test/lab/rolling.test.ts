// A rolling restart of every node, one at a time (SIGTERM, then start again), under a steady
// write load: each stop hands its role over first (leadership transfer; a voter's seat to a
// standby), so writes pause at most for about one leadership transfer. Real processes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DRIVER_LIMITS } from '../../src/datastore/node/driver.js';
import { labSignal, labStart, labStatus } from '../../src/lab/processes.js';
import {
  adminPost,
  boundedClient,
  caughtUp,
  longestGapSince,
  startLab,
  startWriter,
  type TestLab,
  timeUntil,
} from './helpers.js';

let lab: TestLab;

test.before(async () => {
  lab = await startLab(5, '127.0.25.1');
});
test.after(async () => {
  await lab?.down();
});

test('rolling restart under writes: no pause longer than about one leadership transfer', async () => {
  const nodes = await labStatus(lab.dir);
  const writer = startWriter(
    boundedClient(
      nodes.map((n) => n.clientEndpoint),
      3000,
    ),
    'rolling',
  );
  try {
    await timeUntil(async () => writer.result.acked.length >= 20, 10_000, 'first writes');
    // The yardstick: one explicit leadership transfer under the same load.
    const leader = nodes.find((n) => n.state === 'leader')!;
    const target = nodes.find((n) => n.role === 'voter' && n.id !== leader.id)!;
    const transferAt = Date.now();
    await adminPost(lab.dir, leader.name, `/transfer?to=${target.id}`);
    await timeUntil(
      async () => (await labStatus(lab.dir)).find((n) => n.state === 'leader')?.id === target.id,
      10_000,
      'the transfer',
    );
    await timeUntil(
      async () => writer.result.acked.length > 0 && writer.currentGapMs() < 50,
      10_000,
      'writes again',
    );
    const transferGap = longestGapSince(writer.result, transferAt);
    const rollingFrom = Date.now();
    const perNode: string[] = [];
    for (const node of nodes) {
      const t = Date.now();
      await labSignal(lab.dir, node.name, 'SIGTERM');
      const stopMs = Date.now() - t;
      await labStart(lab.dir, node.name);
      await timeUntil(() => caughtUp(lab.dir, node.name), 30_000, `${node.name} caught up`);
      perNode.push(`${node.name} stop ${stopMs} ms`);
    }
    const result = await writer.stop();
    const gap = longestGapSince(result, rollingFrom);
    console.log(
      `  transfer yardstick: ${transferGap} ms; rolling restart of 5 nodes: longest write gap ${gap} ms,` +
        ` ${result.failures} failed of ${result.writes} writes; ${perNode.join(', ')}`,
    );
    // The timings are reported above (and in the closing note), not judged: under a loaded CI
    // machine they vary. What must never happen is a write hanging until a request timeout,
    // which is what a stop without handover (or a lost proposal) would produce.
    assert.ok(gap < DRIVER_LIMITS.defaultRequestTimeoutMs, `a write hung for ${gap} ms`);
    const roles = (await labStatus(lab.dir)).map((n) => n.role).sort();
    assert.equal(roles.filter((r) => r === 'voter').length, 3, `3 voters at the end: ${roles.join(',')}`);
  } finally {
    await writer.stop();
  }
});

test.run();
