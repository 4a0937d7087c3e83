/**
 * pre-refresh's last step: the node stops leading before snapd stops it. A leader that just
 * goes away costs the cluster an election (an election timeout or more without writes, and
 * every write in flight lost); a leader that hands over first costs one leadership transfer.
 * The transfer goes to the voter with the most of the log (a caught-up one: the transfer waits
 * for it to catch up), and pre-refresh waits until another node leads (bounded). The etcd API
 * of the node goes away when snapd stops the daemon: its listeners close first, so clients
 * get a refused connection and go to another endpoint at once (datastore/node/daemon.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { localStatus, requestTransfer } from '../cluster/agent/local-datastore.js';
import type { NodeStatusReport } from '../datastore/node/driver.js';
import { MicroK8sError } from '../lib/errors.js';

export const DRAIN_LIMITS = {
  /** How long the other voters may take to elect the transfer's target. */
  transferTimeoutMs: 10_000,
  pollMs: 50,
  /** A transfer the target did not finish (it fell behind meanwhile) is asked for again. */
  askAgainMs: 1_000,
} as const;

export type DrainResult =
  | { readonly kind: 'not-leader'; readonly leader: number }
  /** It leads and no other voter can take over (a single voter): its stop is the cost. */
  | { readonly kind: 'sole-voter'; readonly leader: number }
  | { readonly kind: 'transferred'; readonly to: number; readonly leader: number; readonly ms: number };

/**
 * Pure: the voter to hand leadership to: another voter the leader hears from, with the most of
 * the log. Undefined when there is none (a single voter keeps leading until it stops).
 */
export function transferTarget(report: NodeStatusReport): number | undefined {
  const candidates = report.members
    .filter((m) => m.id !== report.id && m.role === 'voter' && m.online !== false && !m.draining)
    .sort((a, b) => (b.match ?? 0) - (a.match ?? 0));
  return candidates[0]?.id;
}

/** Make sure the node of `dataDir` does not lead: hand over and wait until another node leads. */
export async function handLeadershipOver(dataDir: string): Promise<DrainResult> {
  const start = Date.now();
  let report = await localStatus(dataDir);
  if (report.state !== 'leader') return { kind: 'not-leader', leader: report.leader };
  const to = transferTarget(report);
  if (to === undefined) return { kind: 'sole-voter', leader: report.leader };
  let asked = 0;
  while (Date.now() - start < DRAIN_LIMITS.transferTimeoutMs) {
    if (Date.now() - asked >= DRAIN_LIMITS.askAgainMs) {
      await requestTransfer(dataDir, transferTarget(report) ?? to);
      asked = Date.now();
    }
    await sleep(DRAIN_LIMITS.pollMs);
    report = await localStatus(dataDir);
    if (report.leader !== 0 && report.leader !== report.id)
      return { kind: 'transferred', to, leader: report.leader, ms: Date.now() - start };
  }
  throw new MicroK8sError(
    'MK_REFRESH_REFUSED',
    `this node still leads the datastore ${DRAIN_LIMITS.transferTimeoutMs} ms after asking voter ${to} to take over`,
  );
}

/** The pre-refresh hook's line about it. */
export function describeDrain(result: DrainResult): string {
  switch (result.kind) {
    case 'transferred':
      return `leadership handed to member ${result.leader} in ${result.ms} ms`;
    case 'sole-voter':
      return 'the only datastore voter: no leadership to hand over';
    case 'not-leader':
      return 'not the datastore leader: nothing to hand over';
  }
}
