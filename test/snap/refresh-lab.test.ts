/**
 * A 3-node lab "refreshes" all its nodes at once, through the refresh protocol of the snap's
 * hooks (src/lifecycle): each node's pre-refresh checks health and the quorum cost over its
 * own admin socket, then takes the cluster-wide refresh lease through its own etcd socket; the
 * refresh itself is snapd's part (stop the daemon, copy, start the new revision: SIGTERM and a
 * start here), and post-refresh gives the lease back. snapd retries a refused pre-refresh later;
 * here each node retries every 250 ms. Real datastore processes, a steady writer throughout.
 * pre-refresh's last step hands leadership over (refresh-drain.ts): a refresh costs the writer at
 * most one leadership transfer, seen as at most one run of failed writes (none, with a client
 * that retries UNAVAILABLE on the next endpoint as clientv3 does), and no acknowledged write is lost.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { summarizeReport } from '../../src/cluster/status.js';
import { fetchNodeReport } from '../../src/cluster/status-admin.js';
import { DRIVER_LIMITS } from '../../src/datastore/node/driver.js';
import { labSignal, labStart, labStatus } from '../../src/lab/processes.js';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { quorumCost } from '../../src/lifecycle/refresh.js';
import { type DrainResult, handLeadershipOver } from '../../src/lifecycle/refresh-drain.js';
import { releaseRefreshLease, takeRefreshLease } from '../../src/lifecycle/refresh-lease.js';
import {
  caughtUp,
  failoverClient,
  longestGapSince,
  startLab,
  startWriter,
  type TestLab,
  timeUntil,
} from '../lab/helpers.js';

const LIMITS = { retryMs: 250, maxAttempts: 1_200, caughtUpMs: 60_000 } as const;

let lab: TestLab;
test.before(async () => {
  lab = await startLab(3, '127.0.18.21');
});
test.after(async () => {
  await lab?.down();
});

test('all three refresh at once: one at a time through the lease, quorum kept, writes go on', async () => {
  const nodes = await labStatus(lab.dir);
  const writer = startWriter(
    failoverClient(
      nodes.map((n) => n.clientEndpoint),
      3000,
    ),
    'refresh',
  );
  let holders = 0;
  let maxHolders = 0;
  let fewestRunning = nodes.length;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const running = (await labStatus(lab.dir).catch(() => [])).filter((n) => n.running).length;
      if (running > 0) fewestRunning = Math.min(fewestRunning, running);
      await sleep(100);
    }
  })();
  const order: string[] = [];
  // Each refresh from its hand-over until writes flow again after its restart.
  const windows: { name: string; from: number; to: number; drain: DrainResult }[] = [];
  const refusals: Record<string, string[]> = {};
  const refresh = async (name: string, dataDir: string): Promise<void> => {
    const socket = join(dataDir, 'etcd.sock');
    refusals[name] = [];
    for (let attempt = 0; attempt < LIMITS.maxAttempts; attempt++) {
      // pre-refresh: healthy, not costing quorum, and the lease.
      const answer = await fetchNodeReport(dataDir, 2000);
      const report = answer.report;
      const cost = report ? quorumCost(summarizeReport(report, new Map(), dataDir, [])) : answer.reason;
      if (!report || report.leader === 0 || cost) {
        refusals[name]!.push(cost ?? 'no leader');
        await sleep(LIMITS.retryMs);
        continue;
      }
      try {
        await takeRefreshLease(socket, `lab/${name}`, '1');
      } catch (error) {
        if (!isMicroK8sError(error, 'MK_REFRESH_REFUSED') && !isMicroK8sError(error)) throw error;
        refusals[name]!.push((error as Error).message);
        await sleep(LIMITS.retryMs);
        continue;
      }
      holders++;
      maxHolders = Math.max(maxHolders, holders);
      order.push(name);
      const windowFrom = Date.now();
      // pre-refresh's last step (after its backup): a leader hands over and waits for the new one.
      const drain = await handLeadershipOver(dataDir);
      // snapd: the daemon stopped, the new revision started.
      await labSignal(lab.dir, name, 'SIGTERM');
      await labStart(lab.dir, name);
      await timeUntil(() => caughtUp(lab.dir, name), LIMITS.caughtUpMs, `${name} caught up`);
      // The refresh's disturbance ends once the writer's client writes steadily again (its
      // channel to the restarted node reconnects on its own schedule).
      const ackedThen = writer.result.acked.length;
      await timeUntil(
        async () => writer.result.acked.length >= ackedThen + 10,
        LIMITS.caughtUpMs,
        `writes again after ${name}`,
      );
      windows.push({ name, from: windowFrom, to: Date.now(), drain });
      holders--;
      // post-refresh, once the node serves again.
      assert.ok(await releaseRefreshLease(socket, `lab/${name}`), `${name} gives its lease back`);
      return;
    }
    throw new Error(`${name} never got its turn: ${refusals[name]!.slice(-3).join('; ')}`);
  };
  const from = Date.now();
  try {
    await timeUntil(async () => writer.result.acked.length >= 20, 10_000, 'first writes');
    await Promise.all(nodes.map((n) => refresh(n.name, n.dataDir)));
  } finally {
    sampling = false;
    await sampler;
  }
  const result = await writer.stop();
  const gap = longestGapSince(result, from);
  const inWindow = (b: { start: number; end: number }, w: { from: number; to: number }) =>
    b.end >= w.from && b.start <= w.to;
  const burstsOf = windows.map((w) => result.bursts.filter((b) => inWindow(b, w)));
  const outside = result.bursts.filter((b) => !windows.some((w) => inWindow(b, w)));
  console.log(
    `  refresh order ${order.join(', ')}; refusals ${Object.entries(refusals)
      .map(([n, r]) => `${n}: ${r.length}`)
      .join(', ')}; hand-overs ${windows
      .map(
        (w) =>
          `${w.name}: ${w.drain.kind === 'transferred' ? `to ${w.drain.leader} in ${w.drain.ms} ms` : 'not leader'}`,
      )
      .join(', ')}; longest write gap ${gap} ms, ${result.failures} failed of ${result.writes} writes, ` +
      `failure runs per refresh ${burstsOf.map((b) => b.length).join('/')} (${outside.length} outside)`,
  );
  for (const [at, message] of result.failed.slice(0, 5))
    console.log(`  failed at +${at - from} ms: ${message}`);
  assert.equal([...order].sort(), nodes.map((n) => n.name).sort(), 'every node refreshed once');
  assert.is(maxHolders, 1, 'one node at a time');
  assert.ok(
    Object.values(refusals).some((r) => r.length > 0),
    "the others' pre-refresh was refused",
  );
  assert.ok(fewestRunning >= 2, `quorum kept: at least 2 of 3 running throughout (fewest ${fewestRunning})`);
  // Each refresh costs at most one leadership transfer: at most one run of failed writes, and
  // writes pause, never hang to a timeout (a generous guard, not a measure).
  assert.ok(
    windows.filter((w) => w.drain.kind === 'transferred').length >= 1,
    'a leader was among the refreshed nodes and handed over',
  );
  for (const [i, runs] of burstsOf.entries())
    assert.ok(runs.length <= 1, `${windows[i]!.name}'s refresh cost ${runs.length} runs of failed writes`);
  assert.is(outside.length, 0, 'no write fails while no node is refreshing');
  assert.ok(gap < DRIVER_LIMITS.defaultRequestTimeoutMs, `a write hung for ${gap} ms`);
  // Every acknowledged write is there afterwards.
  const stored = new Set(await lab.client().getAll().prefix('refresh/').keys());
  const lost = result.acked.filter((key) => !stored.has(key));
  assert.is(lost.length, 0, `acknowledged writes lost: ${lost.slice(0, 5).join(', ')}`);
});

test.run();
