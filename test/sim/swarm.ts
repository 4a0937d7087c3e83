/**
 * Swarm testing: each seed picks its own cluster shape and fault mix, runs a faulty phase
 * (drops, duplicates, delays, partitions, crashes at any point of the Ready loop, membership
 * changes, client reads and writes), then a heal phase in which the cluster must make progress
 * within a bounded number of ticks. Invariants are checked as it runs and at the end, and the
 * client history is checked for linearizability.
 */
import { type NodeId, type Role, roleOf, voters } from '../../src/datastore/raft/index.js';
import { SeededRandom } from '../../src/lib/random.js';
import { checkKvHistory } from '../lin/checker.js';
import { Cluster, SimViolation } from './harness.js';

export interface SwarmOptions {
  /** Ticks of the faulty phase. */
  faultTicks?: number;
  /** Ticks the healed cluster has to elect a leader and commit a write. */
  healTicks?: number;
  /** Include the offending operations in the violation text. */
  explain?: boolean;
  /** Called after every tick of the faulty phase (for debugging a seed). */
  observe?: (cluster: Cluster, tick: number) => void;
}

export interface SeedResult {
  seed: number;
  ok: boolean;
  violation?: string;
  /** Sub-ticks simulated. */
  steps: number;
  trace: number;
  profile: string;
  stats: Cluster['stats'];
  operations: number;
}

interface Profile {
  nodes: number;
  voters: number;
  standbys: number;
  dropRate: number;
  duplicateRate: number;
  maxExtraDelay: number;
  partitionRate: number;
  crashRate: number;
  pauseRate: number;
  confChangeRate: number;
  transferRate: number;
  snapshotEvery: number;
  compactionLag: number;
  chunkBytes: number;
  clients: number;
  keys: number;
  opRate: number;
}

function chooseProfile(rng: SeededRandom): Profile {
  const nodes = 3 + rng.int(5); // 3..7
  const voterCount = Math.min(nodes, rng.pick([1, 3, 3, 3, 5]));
  const standbys = rng.int(nodes - voterCount + 1);
  return {
    nodes,
    voters: voterCount,
    standbys,
    dropRate: rng.pick([0, 0, 0.01, 0.05, 0.15]),
    duplicateRate: rng.pick([0, 0.02, 0.1]),
    maxExtraDelay: rng.pick([0, 5, 20, 60]),
    partitionRate: rng.pick([0, 0.01, 0.03, 0.08]),
    crashRate: rng.pick([0, 0.005, 0.02, 0.05]),
    pauseRate: rng.pick([0, 0, 0.01, 0.03]),
    confChangeRate: rng.pick([0, 0.02, 0.1]),
    transferRate: rng.pick([0, 0.01, 0.05]),
    snapshotEvery: rng.pick([0, 10, 40]),
    compactionLag: rng.pick([0, 3]),
    chunkBytes: rng.pick([16, 256, 4096]),
    clients: 2 + rng.int(3),
    keys: 1 + rng.int(3),
    opRate: rng.pick([0.1, 0.3, 0.6]),
  };
}

function describe(p: Profile): string {
  return `n=${p.nodes} v=${p.voters} s=${p.standbys} drop=${p.dropRate} dup=${p.duplicateRate} delay=${p.maxExtraDelay} part=${p.partitionRate} crash=${p.crashRate} pause=${p.pauseRate} conf=${p.confChangeRate} transfer=${p.transferRate} snap=${p.snapshotEvery}/${p.compactionLag}/${p.chunkBytes}B clients=${p.clients} keys=${p.keys}`;
}

const ROLE_CHOICES: readonly (Role | 'remove')[] = [
  'voter',
  'voter',
  'standby',
  'standby',
  'spare',
  'remove',
];

export function runSeed(seed: number, options: SwarmOptions = {}): SeedResult {
  const faultTicks = options.faultTicks ?? 300;
  const healTicks = options.healTicks ?? 300;
  const rng = new SeededRandom(seed ^ 0x5eed);
  const p = chooseProfile(rng);
  const ids: NodeId[] = Array.from({ length: p.nodes }, (_, i) => i + 1);
  const members = ids.map((id, i) => ({
    id,
    role: (i < p.voters ? 'voter' : i < p.voters + p.standbys ? 'standby' : 'spare') as Role,
  }));
  const cluster = new Cluster({
    seed,
    members,
    snapshotEvery: p.snapshotEvery,
    compactionLag: p.compactionLag,
    limits: { snapshotChunkBytes: p.chunkBytes, maxInflightMsgs: 16 },
  });
  let writes = 0;
  const issueClientOps = () => {
    for (let client = 1; client <= p.clients; client++) {
      if (cluster.clientBusy(client) || !rng.chance(p.opRate)) continue;
      const up = ids.filter((id) => cluster.node(id).up);
      if (up.length === 0) return;
      // Half of the requests go to the node believed to lead, the rest anywhere (forwarded).
      const leader = cluster.leader();
      const via = leader !== undefined && rng.chance(0.5) ? leader : rng.pick(up);
      const key = `k${rng.int(p.keys)}`;
      const kind = rng.int(10);
      if (kind < 5) cluster.write(client, via, { op: 'put', key, value: `c${client}-${++writes}` });
      else if (kind < 6) cluster.write(client, via, { op: 'delete', key });
      else cluster.read(client, via, key);
    }
  };

  const result = (ok: boolean, violation?: string): SeedResult => ({
    seed,
    ok,
    ...(violation === undefined ? {} : { violation }),
    steps: cluster.now,
    trace: cluster.trace,
    profile: describe(p),
    stats: cluster.stats,
    operations: cluster.history.length,
  });

  try {
    // ---- faulty phase
    cluster.faults = { dropRate: p.dropRate, duplicateRate: p.duplicateRate, maxExtraDelay: p.maxExtraDelay };
    for (let tick = 0; tick < faultTicks; tick++) {
      if (rng.chance(p.partitionRate)) {
        const shape = rng.int(5);
        if (shape === 0) cluster.heal();
        else if (shape === 4) {
          // Deaf node: it can send but hears nothing (a half-broken link).
          const deaf = rng.pick(ids);
          for (const id of ids) if (id !== deaf) cluster.cutOneWay(id, deaf);
        } else if (shape === 1) cluster.isolate(rng.pick(ids));
        else if (shape === 2) cluster.cutOneWay(rng.pick(ids), rng.pick(ids));
        else {
          const groupA = ids.filter(() => rng.chance(0.5));
          cluster.partition(
            groupA,
            ids.filter((id) => !groupA.includes(id)),
          );
        }
      }
      if (rng.chance(p.crashRate)) {
        const id = rng.pick(ids);
        const point = rng.pick([undefined, 'before-persist', 'after-persist'] as const);
        cluster.crash(id, point);
      }
      for (const id of ids) if (!cluster.node(id).up && rng.chance(0.05)) cluster.restart(id);
      if (rng.chance(p.pauseRate)) {
        // Mostly the leader: a paused leader that wakes up is the lease reads' hard case.
        const leader = cluster.leader();
        const id = leader !== undefined && rng.chance(0.7) ? leader : rng.pick(ids);
        cluster.pause(id, 1 + rng.int(3 * cluster.electionTicks));
      }
      if (rng.chance(p.confChangeRate)) {
        const leader = cluster.leader();
        if (leader !== undefined) {
          const target = rng.pick(ids);
          const choice = rng.pick(ROLE_CHOICES);
          const change =
            choice === 'remove'
              ? ({ kind: 'remove', id: target } as const)
              : ({ kind: 'set-role', id: target, role: choice } as const);
          try {
            cluster.raft(leader).proposeConfChange(change);
            cluster.stats.confChanges++;
            cluster.processReady(cluster.node(leader));
          } catch (error) {
            const code = (error as { code?: string }).code;
            if (
              code !== 'MK_UNSAFE_MEMBERSHIP_CHANGE' &&
              code !== 'MK_TRANSFER_IN_PROGRESS' &&
              code !== 'MK_PROPOSAL_DROPPED'
            )
              throw error;
          }
        }
      }
      if (rng.chance(p.transferRate)) {
        const leader = cluster.leader();
        if (leader !== undefined) {
          const target = rng.pick(ids);
          try {
            cluster.raft(leader).transferLeadership(target);
            cluster.processReady(cluster.node(leader));
          } catch (error) {
            if ((error as { code?: string }).code !== 'MK_INVALID_ARGUMENT') throw error;
          }
        }
      }
      issueClientOps();
      cluster.ticks(1);
      options.observe?.(cluster, tick);
    }

    // ---- heal phase: everything back, the cluster must elect a leader and commit within healTicks
    cluster.faults = { dropRate: 0, duplicateRate: 0, maxExtraDelay: 0 };
    cluster.heal();
    for (const id of ids) if (!cluster.node(id).up) cluster.restart(id);
    const probe = 1000;
    let healed = false;
    for (let attempt = 0; attempt < healTicks / 20 && !healed; attempt++) {
      cluster.ticks(15);
      const leader = cluster.leader();
      if (leader === undefined || cluster.clientBusy(probe)) continue;
      const before = cluster.stats.writesOk;
      cluster.write(probe, leader, { op: 'put', key: 'heal', value: `probe-${attempt}` });
      cluster.runUntil(() => !cluster.clientBusy(probe), 10);
      healed = cluster.stats.writesOk > before;
    }
    if (!healed) {
      const state = options.explain
        ? `\n${ids.map((id) => `    ${cluster.node(id).raft?.raft.describe() ?? `${id} down`}`).join('\n')}`
        : '';
      return result(false, `no progress within ${healTicks} ticks after healing${state}`);
    }

    // Every replicated member converges on the leader's applied index.
    const leader = cluster.leader()!;
    const conf = cluster.raft(leader).status().conf;
    const replicatedIds = conf.members.filter((m) => m.role !== 'spare').map((m) => m.id);
    const converged = cluster.runUntil(() => {
      const target = cluster.node(leader).applied;
      return replicatedIds.every((id) => cluster.node(id).applied === target);
    }, 200);
    if (!converged) {
      const applied = replicatedIds.map((id) => `${id}:${cluster.node(id).applied}`).join(' ');
      return result(false, `replicas did not converge: ${applied}`);
    }
    if (voters(conf).length === 0 || roleOf(conf, leader) !== 'voter')
      return result(false, 'the leader is not a voter');
    // No committed entry was lost: the final leader has applied past everything anyone ever applied.
    if (cluster.node(leader).applied < cluster.maxApplied()) {
      return result(
        false,
        `the leader applied ${cluster.node(leader).applied} < ${cluster.maxApplied()} applied before`,
      );
    }
    cluster.settleClients();
    cluster.checkLogMatching();
    cluster.checkStateMachines();
    const lin = checkKvHistory(cluster.history);
    if (lin.ok === false) {
      const ops = lin.operations.map(
        (o) =>
          `    ${JSON.stringify(o.input)} -> ${JSON.stringify(o.output)} [${o.call}, ${o.ret}] client ${o.client}`,
      );
      return result(
        false,
        `linearizability: key ${lin.key}: ${lin.reason}${options.explain ? `\n${ops.join('\n')}` : ''}`,
      );
    }
    if (lin.ok === 'unknown') return result(false, `linearizability undecided: ${lin.reason}`);
    return result(true);
  } catch (error) {
    if (error instanceof SimViolation) return result(false, error.message);
    return result(false, `crash: ${(error as Error).stack ?? String(error)}`);
  }
}

export function replayCommand(seed: number): string {
  return `npm run sim -- --seed ${seed}`;
}
