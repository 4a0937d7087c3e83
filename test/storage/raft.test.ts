// The Raft core on a DurableLog: a single-voter cluster campaigns, commits proposals through the
// Ready loop (persist, then advance), and after close and reopen a new RawNode replays them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RawNode } from '../../src/datastore/raft/rawnode.js';
import type { ConfState } from '../../src/datastore/raft/types.js';
import { DurableLog } from '../../src/datastore/storage/durable-log.js';
import { SeededRandom } from '../../src/lib/random.js';
import { quietLogger, removeDir, tempDir } from './helpers.js';

const logger = quietLogger();
const single: ConfState = { members: [{ id: 1, role: 'voter' }] };
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Bound on Ready rounds per drive, so a bug cannot spin forever. */
const MAX_READY_ROUNDS = 1000;

/** Run the Ready loop until quiet: persist, then apply, then advance. Returns the applied payloads. */
async function drive(node: RawNode, log: DurableLog): Promise<{ index: number; value: string }[]> {
  const applied: { index: number; value: string }[] = [];
  for (let round = 0; node.hasReady(); round++) {
    assert.ok(round < MAX_READY_ROUNDS, 'the Ready loop settles');
    const rd = node.ready();
    if (rd.hardState || rd.entries.length > 0)
      await log.save({ hardState: rd.hardState, entries: rd.entries });
    for (const e of rd.committed) {
      if (e.data.byteLength > 0) applied.push({ index: e.index, value: decoder.decode(e.data) });
    }
    node.advance(rd);
  }
  return applied;
}

function newNode(log: DurableLog, applied?: number): RawNode {
  return new RawNode({ id: 1, storage: log, random: new SeededRandom(7), ...(applied ? { applied } : {}) });
}

async function becomeLeader(node: RawNode, log: DurableLog): Promise<void> {
  node.campaign();
  await drive(node, log);
  assert.is(node.status().state, 'leader');
}

test('a single voter commits on a DurableLog, and a new RawNode replays the log after reopen', async () => {
  const dir = await tempDir();
  try {
    const log = await DurableLog.open(dir, { logger, bootstrap: single });
    const node = newNode(log);
    await becomeLeader(node, log);
    const term = node.status().term;
    const values = ['a', 'b', 'c', 'd', 'e'];
    for (const v of values) node.propose([encoder.encode(v)]);
    node.propose([encoder.encode('f'), encoder.encode('g')]);
    const applied = await drive(node, log);
    assert.equal(
      applied.map((a) => a.value),
      [...values, 'f', 'g'],
    );
    const status = node.status();
    assert.is(status.commit, log.lastIndex());
    assert.equal(log.initialState().hardState, { term, vote: 1, commit: status.commit });
    await log.close();

    const reopened = await DurableLog.open(dir, { logger });
    assert.equal(reopened.initialState().hardState, { term, vote: 1, commit: status.commit });
    const again = newNode(reopened);
    // The committed entries come back for the (restarted) state machine to apply.
    const replayed = await drive(again, reopened);
    assert.equal(replayed, applied);
    // And the node carries on: a new election in a higher term, new proposals after the old ones.
    await becomeLeader(again, reopened);
    assert.ok(again.status().term > term);
    again.propose([encoder.encode('h')]);
    const more = await drive(again, reopened);
    assert.equal(
      more.map((a) => a.value),
      ['h'],
    );
    assert.ok(more[0]!.index > applied[applied.length - 1]!.index);
    await reopened.close();
  } finally {
    await removeDir(dir);
  }
});

test('after a snapshot and compaction, a restarted node replays only what follows what it applied', async () => {
  const dir = await tempDir();
  try {
    const log = await DurableLog.open(dir, { logger, bootstrap: single });
    const node = newNode(log);
    await becomeLeader(node, log);
    for (let i = 0; i < 20; i++) node.propose([encoder.encode(`v${i}`)]);
    const first = await drive(node, log);
    assert.is(first.length, 20);
    // The state machine has durably applied up to v14: snapshot there, keep 5 entries behind it.
    const snapIndex = first[14]!.index;
    await log.markSnapshot({ index: snapIndex, term: log.term(snapIndex)!, conf: single });
    await log.compact(snapIndex - 5);
    await log.close();

    const reopened = await DurableLog.open(dir, { logger });
    assert.is(reopened.firstIndex(), snapIndex - 4);
    assert.is(reopened.snapshot().meta.index, snapIndex);
    const again = newNode(reopened, snapIndex);
    const replayed = await drive(again, reopened);
    assert.equal(
      replayed.map((a) => a.value),
      ['v15', 'v16', 'v17', 'v18', 'v19'],
    );
    await reopened.close();
  } finally {
    await removeDir(dir);
  }
});

test.run();
