/**
 * The peer port of a 3-node lab under 500 half-open connections per node (raw TCP connects that
 * never start a TLS handshake, re-opened as soon as they are closed, from many source addresses
 * and from one): a member that restarts meanwhile is back in the cluster, reading and writing,
 * as it would be without the flood. The flood comes from 127.0.46.x and 127.0.47.1.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labSignal, labStart, labStatus } from '../../src/lab/processes.js';
import { silentFlood } from '../transport/silent-flood.js';
import { eventually, startLab, type TestLab } from './helpers.js';

const FLOOD_SOCKETS = 500;
const SOURCES = 100;
const RAMP_MS = 5;
/** Anti-hang guard for the restarted member's return; not a timing claim. */
const BACK_GUARD_MS = 60_000;

let lab: TestLab;

test.before(async () => {
  lab = await startLab(3, '127.0.45.1');
});
test.after(async () => {
  await lab?.down();
});

test('a member restarted during a flood of half-open peer connections is back in the cluster', async () => {
  const nodes = await labStatus(lab.dir);
  const floods = nodes.map((n) =>
    silentFlood(n.address, n.peerPort, {
      count: FLOOD_SOCKETS,
      sourcePrefix: '127.0.46',
      sources: SOURCES,
      heavy: '127.0.47.1',
      rampMs: RAMP_MS,
    }),
  );
  try {
    // The ramp is over: every slot the flood may take is held.
    await sleep(FLOOD_SOCKETS * RAMP_MS);
    await labSignal(lab.dir, 'node3', 'SIGTERM');
    await labStart(lab.dir, 'node3');
    const writer = lab.client(['node1', 'node2']);
    await writer.put('flood/after-restart').value('1');
    const reader = lab.client(['node3']);
    await eventually(
      async () => {
        // A linearizable read on node3 needs the leader: node3 is connected both ways.
        if ((await reader.get('flood/after-restart').string()) !== '1') throw new Error('not yet');
        const leader = (await labStatus(lab.dir)).find((n) => n.state === 'leader');
        const report = leader?.members.find((m) => m.id === 3);
        if (!report?.online)
          throw new Error(`node3 not online in the leader's view: ${JSON.stringify(report)}`);
      },
      BACK_GUARD_MS,
      'node3 back in the cluster',
    );
    const after = await labStatus(lab.dir);
    assert.ok(
      after.every((n) => n.running && n.leader !== 0),
      'every member running with a leader',
    );
  } finally {
    for (const f of floods) f.stop();
  }
});

test.run();
