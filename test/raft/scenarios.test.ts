// Readable Raft scenarios, driven by the deterministic simulator (no faults unless a test adds them).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageType, type NodeId } from '../../src/datastore/raft/index.js';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { checkKvHistory } from '../lin/checker.js';
import { Cluster, type ClusterOptions } from '../sim/harness.js';

const three = [
  { id: 1, role: 'voter' },
  { id: 2, role: 'voter' },
  { id: 3, role: 'voter' },
] as const;

function cluster(options: Partial<ClusterOptions> = {}): Cluster {
  return new Cluster({ seed: 7, members: three, ...options });
}

function electLeader(c: Cluster): NodeId {
  assert.ok(
    c.runUntil(() => c.leader() !== undefined, 100),
    'a leader within 100 ticks',
  );
  c.ticks(3);
  return c.leader()!;
}

function writeAndWait(c: Cluster, client: number, via: NodeId, key: string, value: string): void {
  assert.ok(c.write(client, via, { op: 'put', key, value }), `write ${key} via ${via} accepted`);
  assert.ok(
    c.runUntil(() => !c.clientBusy(client), 100),
    `write ${key} completes`,
  );
}

function readAndWait(c: Cluster, client: number, via: NodeId, key: string): string | undefined {
  const before = c.history.length;
  assert.ok(c.read(client, via, key), `read via ${via} accepted`);
  assert.ok(
    c.runUntil(() => !c.clientBusy(client), 100),
    'read completes',
  );
  const op = c.history.slice(before).find((o) => o.input.op === 'get' && o.client === client);
  assert.ok(op, 'the read answered');
  return (op!.output as { value: string | undefined }).value;
}

test('election: one leader, everyone follows it', () => {
  const c = cluster();
  const leader = electLeader(c);
  for (const id of [1, 2, 3]) {
    const status = c.raft(id).status();
    assert.is(status.leader, leader, `node ${id} follows ${leader}`);
    assert.is(status.state, id === leader ? 'leader' : 'follower');
  }
});

test('a partitioned leader steps down after one election timeout; the majority elects a new one', () => {
  const c = cluster();
  const old = electLeader(c);
  const term = c.raft(old).status().term;
  c.isolate(old);
  let steppedDownAfter = -1;
  for (let tick = 1; tick <= 30; tick++) {
    c.ticks(1);
    if (steppedDownAfter < 0 && c.raft(old).status().state !== 'leader') steppedDownAfter = tick;
  }
  assert.ok(steppedDownAfter > 0, 'the isolated leader stepped down');
  // Check-quorum counts in ticks: one election timeout (10 ticks, one second at 100 ms) and a tick of slack.
  assert.ok(steppedDownAfter <= c.electionTicks + 2, `stepped down after ${steppedDownAfter} ticks`);
  const fresh = c.leader();
  assert.ok(fresh !== undefined && fresh !== old, 'the majority side has a new leader');
  assert.ok(c.raft(fresh!).status().term > term);
  // The old leader never bumped its own term while cut off (pre-vote), so healing is quiet.
  assert.is(c.raft(old).status().term, term);
  c.heal();
  c.ticks(20);
  assert.is(c.leader(), fresh, 'healing does not disturb the new leader');
});

/**
 * A leader that is cut off and paused (SIGSTOP, a long GC pause) while the others elect a new
 * leader and write, then wakes up still believing it leads: its ticks stopped with it, so its
 * check-quorum has not noticed anything yet. Returns the value its read answered, if any.
 */
function pausedLeaderRead(options: Partial<ClusterOptions>): { c: Cluster; answered: string[] } {
  const c = cluster(options);
  const old = electLeader(c);
  writeAndWait(c, 1, old, 'k', 'v1');
  assert.is(readAndWait(c, 2, old, 'k'), 'v1');
  c.isolate(old);
  c.pause(old, 5 * c.electionTicks);
  assert.ok(
    c.runUntil(() => c.leader() !== undefined && c.leader() !== old, 4 * c.electionTicks),
    'the others elect a new leader while the old one sleeps',
  );
  writeAndWait(c, 1, c.leader()!, 'k', 'v2');
  assert.ok(
    c.runUntil(() => !c.paused(c.node(old)), 5 * c.electionTicks),
    'the old leader wakes up',
  );
  assert.is(c.raft(old).status().state, 'leader', 'awake, cut off, and still believing it leads');
  const before = c.history.length;
  assert.ok(c.read(3, old, 'k'), 'the read is accepted');
  c.ticks(3 * c.electionTicks);
  const answered = c.history
    .slice(before)
    .filter((o) => o.client === 3 && o.input.op === 'get')
    .map((o) => (o.output as { value: string }).value);
  return { c, answered };
}

test('lease reads: a leader that wakes from a pause does not answer from its old lease', () => {
  // The lease is timed by the clock, which went on during the pause; the read falls back to a
  // round of heartbeats, which a cut-off leader cannot complete: no answer, never a stale one.
  const { c, answered } = pausedLeaderRead({});
  assert.equal(answered, []);
  assert.is(checkKvHistory(c.history).ok, true);
});

test('lease reads: the pause scenario has teeth (a lease longer than an election timeout is stale)', () => {
  // The same scenario with a lease that outlives the voters' election timeout: the woken leader
  // answers the value the new leader already overwrote, and the checker says so.
  const { c, answered } = pausedLeaderRead({ leaseReadTime: 10 * 10 * 10 });
  assert.equal(answered, ['v1']);
  assert.is(checkKvHistory(c.history).ok, false);
});

test('a cut-off standby forgets its leader (answers "no leader") and finds it again after the heal', () => {
  const c = new Cluster({ seed: 5, members: [...three, { id: 4, role: 'standby' }] });
  const leader = electLeader(c);
  assert.is(c.raft(4).status().leader, leader);
  c.isolate(4);
  c.ticks(c.electionTicks + 2);
  assert.is(
    c.raft(4).status().leader,
    0,
    'a standby never campaigns, so it must drop the unreachable leader',
  );
  assert.is(c.raft(4).status().state, 'follower');
  c.heal();
  assert.ok(
    c.runUntil(() => c.raft(4).status().leader === leader, 50),
    'the next heartbeat restores it',
  );
});

test('a member demoted to spare is sent the log up to its demotion, so it knows its role', () => {
  const c = new Cluster({ seed: 9, members: [...three, { id: 4, role: 'standby' }] });
  const leader = electLeader(c);
  writeAndWait(c, 1, leader, 'a', '1');
  c.ticks(2);
  c.raft(leader).proposeConfChange({ kind: 'set-role', id: 4, role: 'spare' });
  c.ticks(5);
  assert.is(
    c
      .raft(4)
      .status()
      .conf.members.find((m) => m.id === 4)?.role,
    'spare',
  );
  const applied = c.node(4).applied;
  writeAndWait(c, 1, leader, 'b', '2');
  c.ticks(3);
  assert.is(c.node(4).applied, applied, 'nothing after the demotion');
});

test('a lagging follower is caught up by a chunked snapshot', () => {
  const c = cluster({ snapshotEvery: 10, compactionLag: 0, limits: { snapshotChunkBytes: 64 } });
  const leader = electLeader(c);
  const lagging = ([1, 2, 3] as NodeId[]).find((id) => id !== leader)!;
  c.crash(lagging);
  for (let i = 0; i < 40; i++) writeAndWait(c, 1, leader, `k${i % 7}`, `v${i}`);
  assert.ok(c.node(leader).disk.firstIndex() > 2, 'the leader compacted its log');
  const snapsBefore = c.sentByType.get(MessageType.Snap) ?? 0;
  c.restart(lagging);
  assert.ok(
    c.runUntil(() => c.node(lagging).applied === c.node(leader).applied, 200),
    'the follower caught up',
  );
  const chunks = (c.sentByType.get(MessageType.Snap) ?? 0) - snapsBefore;
  assert.ok(chunks > 1, `the snapshot went in several chunks (${chunks})`);
  assert.equal([...c.node(lagging).kv.entries()].sort(), [...c.node(leader).kv.entries()].sort());
});

test('a standby is promoted once caught up, then a voter is removed', () => {
  const c = new Cluster({ seed: 3, members: [...three, { id: 4, role: 'standby' }] });
  const leader = electLeader(c);
  writeAndWait(c, 1, leader, 'a', '1');
  c.ticks(5);
  const index = c.raft(leader).proposeConfChange({ kind: 'set-role', id: 4, role: 'voter' });
  assert.ok(index > 0);
  c.ticks(10);
  const removed = ([1, 2, 3] as NodeId[]).find((id) => id !== leader)!;
  c.raft(leader).proposeConfChange({ kind: 'remove', id: removed });
  c.ticks(10);
  for (const id of [1, 2, 3, 4].filter((n) => n !== removed)) {
    const members = c.raft(id).status().conf.members;
    assert.equal(
      members.map((m) => `${m.id}:${m.role}`),
      [1, 2, 3, 4].filter((n) => n !== removed).map((n) => `${n}:voter`),
      `node ${id} sees the new membership`,
    );
  }
  writeAndWait(c, 1, leader, 'b', '2');
  c.ticks(2);
  assert.is(c.node(4).kv.get('b'), '2', 'the promoted voter replicates');
});

test('a spare is promoted only through standby, and only once caught up', () => {
  const c = new Cluster({ seed: 5, members: [...three, { id: 4, role: 'spare' }] });
  const leader = electLeader(c);
  for (let i = 0; i < 5; i++) writeAndWait(c, 1, leader, 'k', `v${i}`);
  // A spare gets the log only up to its leader's first entry (so it knows the leader's view of
  // its role), nothing after.
  assert.ok(c.node(4).applied <= 1, `a spare is not replicated (applied ${c.node(4).applied})`);
  assert.is(c.node(4).kv.get('k'), undefined);
  try {
    c.raft(leader).proposeConfChange({ kind: 'set-role', id: 4, role: 'voter' });
    assert.unreachable('a spare cannot jump to voter');
  } catch (error) {
    assert.ok(isMicroK8sError(error, 'MK_UNSAFE_MEMBERSHIP_CHANGE'), String(error));
    assert.match(String(error), /standby before/);
  }
  c.raft(leader).proposeConfChange({ kind: 'set-role', id: 4, role: 'standby' });
  assert.ok(
    c.runUntil(() => c.node(4).kv.get('k') === 'v4', 50),
    'the standby catches up',
  );
  c.ticks(3); // its acknowledgements reach the leader
  c.raft(leader).proposeConfChange({ kind: 'set-role', id: 4, role: 'voter' });
  c.ticks(5);
  assert.is(
    c
      .raft(4)
      .status()
      .conf.members.find((m) => m.id === 4)?.role,
    'voter',
  );
});

test('a change that would leave no quorum, or a second change at once, is refused', () => {
  const c = cluster();
  const leader = electLeader(c);
  const [a, b] = ([1, 2, 3] as NodeId[]).filter((id) => id !== leader) as [NodeId, NodeId];
  c.crash(a);
  c.ticks(c.electionTicks + 1); // the leader notices a is gone (but keeps its quorum with b)
  for (const change of [
    { kind: 'set-role', id: b, role: 'standby' },
    { kind: 'remove', id: b },
    { kind: 'set-role', id: leader, role: 'standby' },
  ] as const) {
    try {
      c.raft(leader).proposeConfChange(change);
      assert.unreachable(`${JSON.stringify(change)} should be refused`);
    } catch (error) {
      assert.ok(isMicroK8sError(error, 'MK_UNSAFE_MEMBERSHIP_CHANGE'), String(error));
    }
  }
  // Removing the dead voter keeps a quorum (2 of 2 reachable): allowed, but only one at a time.
  c.raft(leader).proposeConfChange({ kind: 'remove', id: a });
  assert.throws(
    () => c.raft(leader).proposeConfChange({ kind: 'set-role', id: 9, role: 'spare' }),
    (e: unknown) =>
      isMicroK8sError(e, 'MK_UNSAFE_MEMBERSHIP_CHANGE') && /one change at a time/.test(String(e)),
  );
});

test('leadership transfer hands over to the chosen voter', () => {
  const c = cluster();
  const leader = electLeader(c);
  writeAndWait(c, 1, leader, 'x', '1');
  const target = ([1, 2, 3] as NodeId[]).find((id) => id !== leader)!;
  c.raft(leader).transferLeadership(target);
  assert.ok(
    c.runUntil(() => c.leader() === target, 5),
    'the target leads within a few ticks',
  );
  writeAndWait(c, 1, target, 'x', '2');
  c.ticks(2);
  assert.is(c.node(leader).kv.get('x'), '2');
});

test('ReadIndex on a follower sees the latest committed write', () => {
  const c = cluster();
  const leader = electLeader(c);
  const follower = ([1, 2, 3] as NodeId[]).find((id) => id !== leader)!;
  for (let i = 0; i < 5; i++) {
    writeAndWait(c, 1, leader, 'x', `v${i}`);
    assert.is(readAndWait(c, 2, follower, 'x'), `v${i}`);
  }
  assert.equal(checkKvHistory(c.history).ok, true);
});

test('a stale leader cannot serve a read', () => {
  const c = cluster();
  const old = electLeader(c);
  writeAndWait(c, 1, old, 'x', 'old');
  const [next, third] = ([1, 2, 3] as NodeId[]).filter((id) => id !== old) as [NodeId, NodeId];
  c.ticks(3); // acknowledgements reach the leader, so the transferee counts as caught up
  // The old leader hands over, but hears nothing back: it does not learn of the new term and,
  // until check-quorum demotes it, still believes it leads.
  c.cutOneWay(next, old);
  c.cutOneWay(third, old);
  c.raft(old).transferLeadership(next);
  assert.ok(
    c.runUntil(() => c.raft(next).status().state === 'leader', 10),
    'the transferee leads',
  );
  writeAndWait(c, 1, next, 'x', 'new');
  assert.is(c.raft(old).status().state, 'leader', 'the old leader still believes it leads');
  assert.ok(c.read(9, old, 'x'), 'the stale leader accepts the read request');
  c.ticks(30);
  assert.is(c.history.filter((o) => o.client === 9).length, 0, 'the stale leader never answered the read');
  assert.is.not(c.raft(old).status().state, 'leader', 'check-quorum demoted it');
  assert.equal(checkKvHistory(c.history).ok, true);
  c.heal();
  c.ticks(20);
  assert.is(readAndWait(c, 3, old, 'x'), 'new', 'once healed it reads the new value');
});

test('a restarted node recovers its log, membership and state from its disk', () => {
  const c = new Cluster({ seed: 11, members: [...three, { id: 4, role: 'standby' }], snapshotEvery: 8 });
  const leader = electLeader(c);
  for (let i = 0; i < 20; i++) writeAndWait(c, 1, leader, `k${i % 3}`, `v${i}`);
  c.ticks(3);
  c.raft(leader).proposeConfChange({ kind: 'set-role', id: 4, role: 'voter' });
  c.ticks(10);
  for (const id of [1, 2, 3, 4]) {
    c.restart(id);
    c.ticks(30);
  }
  const now = c.leader()!;
  writeAndWait(c, 1, now, 'k0', 'after');
  c.ticks(5);
  for (const id of [1, 2, 3, 4]) {
    assert.is(c.node(id).kv.get('k0'), 'after', `node ${id}`);
    assert.is(
      c
        .raft(id)
        .status()
        .conf.members.find((m) => m.id === 4)?.role,
      'voter',
    );
  }
  c.checkLogMatching();
  c.checkStateMachines();
});

test('the uncommitted-bytes limit refuses proposals without losing any', () => {
  const c = cluster({ limits: { maxUncommittedBytes: 4096 } });
  const leader = electLeader(c);
  for (const id of [1, 2, 3]) if (id !== leader) c.crash(id);
  const data = new Uint8Array(1000);
  let accepted = 0;
  let refused = 0;
  for (let i = 0; i < 10; i++) {
    try {
      c.raft(leader).propose([data]);
      accepted++;
    } catch (error) {
      assert.ok(isMicroK8sError(error, 'MK_PROPOSAL_DROPPED'), String(error));
      refused++;
    }
  }
  assert.ok(accepted >= 3 && refused > 0, `accepted ${accepted}, refused ${refused}`);
});

test.run();
