/**
 * Quorum-loss recovery: for when a majority of the voters is gone for good.
 *
 * Run on the survivors' stopped nodes, it
 *   1. reads every survivor's log (last index and term, membership);
 *   2. picks the survivor with the most complete log: the highest (last term, last index), which
 *      by Raft's election rule holds every entry any survivor could have had committed;
 *   3. backs up every survivor's data folder;
 *   4. appends to the chosen log, in a new term, the membership changes that remove the lost
 *      members and make every survivor a voter, and marks them committed;
 *   5. gives every other survivor a copy of that log and database (their own entries are a prefix
 *      of it or were never committed), so they all start from the same point;
 *   6. gives the survivors a new cluster id, so a lost member that comes back is refused at the
 *      peer handshake (with a message that says so) instead of disturbing the new cluster.
 * The survivors are then started as a working cluster; the roles planner takes over from there.
 *
 * Nothing is lost that the chosen survivor had: its log is kept whole, its uncommitted tail
 * included. plan() has no side effects and is what `--force`-less runs print.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MicroK8sError } from '../../lib/errors.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { utcStamp } from '../../lib/process.js';
import { editArgsFile } from '../../node/args-file.js';
import { BACKUPS_KEPT, pruneBackups } from '../../node/backups.js';
import { buildDaemonConfig, readDatastoreArgs } from '../node/config.js';
import { applyConfChange, encodeConfChange } from '../raft/membership.js';
import { type ConfChange, type ConfState, type Entry, EntryType, type NodeId } from '../raft/types.js';
import { inspectLog, type LogFacts } from './inspect.js';

export interface Survivor {
  readonly id: NodeId;
  readonly argsFile: string;
  readonly dataDir: string;
  readonly clusterId: string;
}

export interface RecoveryPlan {
  readonly survivors: readonly (Survivor & { readonly log: LogFacts })[];
  /** The survivor whose log every survivor starts from. */
  readonly source: NodeId;
  /** Members of the old configuration that are not survivors: removed. */
  readonly lost: readonly NodeId[];
  readonly changes: readonly ConfChange[];
  readonly newConf: ConfState;
  readonly oldClusterId: string;
  readonly newClusterId: string;
  readonly term: number;
}

/** The data folder entries that hold the replicated state (the rest is per node: args, sockets, logs). */
const STATE_ENTRIES = ['raft', 'state.db', 'state.db-wal', 'state.db-shm'];

/** Read a survivor's identity from its args file (the same file its daemon runs from). */
export function survivorFromArgs(argsFile: string): Survivor {
  const config = buildDaemonConfig(readDatastoreArgs(argsFile), new Map());
  return { id: config.id, argsFile, dataDir: config.dataDir, clusterId: config.clusterId };
}

function recoveredClusterId(old: string, now: Date): string {
  const base = old.replace(/-recovered-\d{14}$/, '');
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${base}-recovered-${stamp}`;
}

/** Decide what recovery would do; no side effects. */
export async function planRecovery(survivors: readonly Survivor[], now = new Date()): Promise<RecoveryPlan> {
  if (survivors.length === 0) throw new MicroK8sError('MK_INVALID_ARGUMENT', 'name at least one survivor');
  const ids = new Set(survivors.map((s) => s.id));
  if (ids.size !== survivors.length)
    throw new MicroK8sError('MK_INVALID_ARGUMENT', 'a survivor is named twice');
  const clusterIds = new Set(survivors.map((s) => s.clusterId));
  if (clusterIds.size !== 1) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `the survivors belong to different clusters: ${[...clusterIds].join(', ')}`,
    );
  }
  for (const s of survivors) {
    if (existsSync(join(s.dataDir, 'admin.sock')) && (await answers(join(s.dataDir, 'admin.sock')))) {
      throw new MicroK8sError(
        'MK_INVALID_ARGUMENT',
        `node ${s.id} is running: stop it first (its data must not change)`,
        {
          dataDir: s.dataDir,
        },
      );
    }
  }
  const inspected = [];
  for (const s of survivors) inspected.push({ ...s, log: await inspectLog(join(s.dataDir, 'raft')) });
  const best = [...inspected].sort(
    (a, b) => b.log.lastTerm - a.log.lastTerm || b.log.lastIndex - a.log.lastIndex || a.id - b.id,
  )[0]!;
  const conf = best.log.conf;
  const lost = conf.members.filter((m) => !ids.has(m.id)).map((m) => m.id);
  const changes: ConfChange[] = [
    ...lost.map((id): ConfChange => ({ kind: 'remove', id })),
    ...survivors
      .filter((s) => conf.members.find((m) => m.id === s.id)?.role !== 'voter')
      .sort((a, b) => a.id - b.id)
      .map((s): ConfChange => ({ kind: 'set-role', id: s.id, role: 'voter' })),
  ];
  const newConf = changes.reduce(applyConfChange, conf);
  const term = Math.max(...inspected.map((s) => Math.max(s.log.hardState.term, s.log.lastTerm))) + 1;
  const oldClusterId = survivors[0]!.clusterId;
  return {
    survivors: inspected,
    source: best.id,
    lost,
    changes,
    newConf,
    oldClusterId,
    newClusterId: recoveredClusterId(oldClusterId, now),
    term,
  };
}

async function answers(socketPath: string): Promise<boolean> {
  const { Client } = await import('undici');
  const client = new Client('http://admin', { socketPath, headersTimeout: 1000, bodyTimeout: 1000 });
  try {
    const res = await client.request({ path: '/status', method: 'GET' });
    await res.body.dump();
    return true;
  } catch {
    return false;
  } finally {
    await client.close();
  }
}

export function describePlan(plan: RecoveryPlan): string[] {
  const conf = (c: ConfState) => c.members.map((m) => `${m.id}:${m.role}`).join(' ') || '-';
  const source = plan.survivors.find((s) => s.id === plan.source)!;
  return [
    `survivors: ${plan.survivors.map((s) => `node ${s.id} (last index ${s.log.lastIndex}, term ${s.log.lastTerm})`).join(', ')}`,
    `most complete log: node ${plan.source} (${source.log.lastIndex} entries up to term ${source.log.lastTerm}); every survivor starts from it`,
    `membership now: ${conf(source.log.conf)}`,
    `lost members removed: ${plan.lost.join(', ') || 'none'}`,
    `new membership: ${conf(plan.newConf)} (forced in term ${plan.term})`,
    `cluster id: ${plan.oldClusterId} -> ${plan.newClusterId} (a lost member that comes back is refused until re-joined)`,
    `backups: every survivor's data folder is copied to <data folder>.backup-<UTC time> first`,
  ];
}

export interface RecoveryResult {
  readonly plan: RecoveryPlan;
  readonly backups: readonly string[];
}

/** Carry the plan out. The survivors must stay stopped until it returns. */
export async function executeRecovery(
  plan: RecoveryPlan,
  options: { now?: Date; logger?: Logger } = {},
): Promise<RecoveryResult> {
  const logger = options.logger ?? createLogger('datastore.recovery');
  const stamp = utcStamp(options.now);
  const backups: string[] = [];
  for (const s of plan.survivors) {
    const backup = `${s.dataDir}.backup-${stamp}`;
    cpSync(s.dataDir, backup, {
      recursive: true,
      filter: (src) => !src.endsWith('.sock'),
    });
    backups.push(backup);
    const pruned = pruneBackups(dirname(s.dataDir), `${basename(s.dataDir)}.backup-`);
    logger.info('backed up a survivor', { node: s.id, backup, pruned, kept: BACKUPS_KEPT });
  }
  const source = plan.survivors.find((s) => s.id === plan.source)!;
  await appendForcedMembership(join(source.dataDir, 'raft'), plan, source.log);
  for (const s of plan.survivors) {
    if (s.id === plan.source) continue;
    replaceState(source.dataDir, s.dataDir);
    logger.info('survivor now starts from the chosen log', { node: s.id, from: plan.source });
  }
  for (const s of plan.survivors)
    await editArgsFile(s.argsFile, { set: { 'cluster-id': plan.newClusterId } });
  logger.warn('quorum-loss recovery done: start the survivors', {
    survivors: plan.survivors.map((s) => s.id),
    lost: plan.lost,
    clusterId: plan.newClusterId,
  });
  return { plan, backups };
}

async function appendForcedMembership(raftDir: string, plan: RecoveryPlan, facts: LogFacts): Promise<void> {
  const { DurableLog } = await import('../storage/durable-log.js');
  const log = await DurableLog.open(raftDir, { logger: createLogger('datastore.recovery.log') });
  try {
    const first = log.lastIndex() + 1;
    const entries: Entry[] = plan.changes.map((change, i) => ({
      term: plan.term,
      index: first + i,
      type: EntryType.ConfChange,
      data: encodeConfChange(change),
    }));
    const last = first + entries.length - 1;
    // Everything in the chosen log is now committed: the survivors are the whole cluster.
    await log.save({
      hardState: { term: plan.term, vote: 0, commit: Math.max(last, facts.lastIndex) },
      entries,
    });
  } finally {
    await log.close();
  }
}

/** Replace `to`'s replicated state by a copy of `from`'s (its own was backed up). */
function replaceState(from: string, to: string): void {
  const staging = join(dirname(to), `.${basename(to)}.recovering`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  for (const name of STATE_ENTRIES) {
    if (existsSync(join(from, name))) cpSync(join(from, name), join(staging, name), { recursive: true });
  }
  for (const name of STATE_ENTRIES) rmSync(join(to, name), { recursive: true, force: true });
  for (const name of readdirSync(staging)) renameSync(join(staging, name), join(to, name));
  rmSync(staging, { recursive: true, force: true });
}
