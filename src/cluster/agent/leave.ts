/**
 * `microk8s leave`: this node leaves its cluster and becomes a fresh single node again.
 *
 *   1. A leader first hands leadership over (a leader never removes itself).
 *   2. It asks for its own removal: the leader gives its voter seat to a caught-up standby (or,
 *      with none, shrinks the voters when the others still make a quorum; the core refuses a
 *      change that would lose one) and demotes it, then removes it. The node waits, bounded,
 *      until it no longer holds a voter seat: a refusal to break quorum ends the leave there,
 *      with the node still a member.
 *   3. Its datastore is stopped; the old data and certificates are kept as *-before-leave-<UTC>
 *      backups; a new single-node configuration (its own CA, a new cluster id) is written, and
 *      with `start` the datastore runs again.
 */
import { existsSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MicroK8sError } from '../../lib/errors.js';
import { utcStamp } from '../../lib/process.js';
import { pruneBackups } from '../../node/backups.js';
import { stopService } from '../../services/restart.js';
import { spawnDaemon } from '../../services/spawn.js';
import { type AgentContext, readDatastoreConfig } from './context.js';
import { localStatus, localStatusIfRunning, requestRemoval, requestTransfer } from './local-datastore.js';
import { initSingleNode } from './node-init.js';
import { waitForMembership } from './processes.js';

export const LEAVE_LIMITS = { pollMs: 100, handOverMs: 30_000 } as const;

export interface LeaveOptions {
  readonly start?: boolean;
  readonly onProgress?: (line: string) => void;
}

export interface LeaveResult {
  readonly leftNode: number;
  readonly backups: readonly string[];
  readonly clusterId: string;
  readonly started?: { pid: number };
}

async function keepAside(path: string, backups: string[]): Promise<void> {
  if (!existsSync(path)) return;
  const target = join(dirname(path), `${basename(path)}-before-leave-${utcStamp()}`);
  await rename(path, target);
  backups.push(target);
  pruneBackups(dirname(path), `${basename(path)}-before-leave-`);
}

export async function runLeave(ctx: AgentContext, options: LeaveOptions = {}): Promise<LeaveResult> {
  const progress = options.onProgress ?? (() => {});
  const config = readDatastoreConfig(ctx);
  const dataDir = config.dataDir;
  const status = await localStatus(dataDir);
  if (status.members.length <= 1) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      'this node is not part of a multi-node cluster: nothing to leave',
    );
  }
  const deadline = Date.now() + LEAVE_LIMITS.handOverMs;
  if (status.state === 'leader') {
    const to = status.members.find((m) => m.id !== status.id && m.role === 'voter' && m.online !== false);
    if (!to)
      throw new MicroK8sError(
        'MK_INVALID_ARGUMENT',
        'no other voter to hand leadership to: leaving would break quorum',
      );
    progress(`handing leadership over to node${to.id}`);
    await requestTransfer(dataDir, to.id);
    while ((await localStatus(dataDir)).state === 'leader') {
      if (Date.now() > deadline)
        throw new MicroK8sError('MK_TIMEOUT', 'leadership was not handed over in time');
      await sleep(LEAVE_LIMITS.pollMs);
    }
  }
  progress('asking the leader to take this node out (its voter seat goes to another member first)');
  await requestRemoval(dataDir, status.id, true);
  for (;;) {
    const now = await localStatus(dataDir);
    const me = now.members.find((m) => m.id === status.id);
    if (!me || me.role === 'spare') break;
    if (Date.now() > deadline) {
      throw new MicroK8sError(
        'MK_TIMEOUT',
        `node${status.id} still holds a ${me.role} seat: the cluster cannot spare it without losing quorum (add a node first)`,
      );
    }
    await sleep(LEAVE_LIMITS.pollMs);
  }
  progress('handed over; stopping the datastore');
  await stopDatastore(ctx, dataDir);
  const backups: string[] = [];
  await keepAside(dataDir, backups);
  await keepAside(ctx.certs.dir, backups);
  const init = await initSingleNode(ctx, {
    address: config.peerListen.host,
    peerPort: config.peerListen.port,
    ...(config.clientTlsListen ? { clientPort: config.clientTlsListen.port } : {}),
    force: true,
  });
  const result = { leftNode: status.id, backups, clusterId: init.clusterId };
  if (!options.start) return result;
  const pid = spawnDaemon(ctx.paths, 'datastore', ['datastore', 'run', '--args-file', ctx.datastoreArgs]);
  await waitForMembership(readDatastoreConfig(ctx).dataDir, 1, pid, undefined, progress);
  return { ...result, started: { pid } };
}

/** Stop the datastore this node runs (SIGINT: the handover is done); an unknown one must be stopped by hand. */
async function stopDatastore(ctx: AgentContext, dataDir: string): Promise<void> {
  const stopped = await stopService(ctx.paths, 'datastore', process.env, 'SIGINT');
  if (stopped.kind === 'stopped' || stopped.kind === 'stopped-by-snap') return;
  if (await localStatusIfRunning(dataDir)) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      'the datastore was handed over but runs under a service manager: stop it, then run `microk8s leave` again',
    );
  }
}
