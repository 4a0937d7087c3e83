import { MicroK8sError } from '../lib/errors.js';
import { waitProcessExit } from '../lib/process.js';
import { labStartMany } from './processes.js';
import { datastoreRunning, LAB_LIMITS, readLab, writeLab } from './spec.js';

/**
 * Quorum-loss recovery of the lab: the running nodes are the survivors, the stopped ones are lost
 * for good. Without force, only the plan's outline; with force, the survivors are stopped, recovered
 * (see datastore/recovery) and started again as a working cluster.
 */
export async function labRecover(
  dir: string,
  options: { force: boolean },
): Promise<{ survivors: string[]; lost: string[]; plan?: string[] }> {
  const spec = readLab(dir);
  const survivors = spec.nodes.filter((n) => datastoreRunning(n));
  const lost = spec.nodes.filter((n) => !datastoreRunning(n));
  if (survivors.length === 0)
    throw new MicroK8sError('MK_NOT_RUNNING', 'no lab node is running: nothing survived');
  const names = { survivors: survivors.map((n) => n.name), lost: lost.map((n) => n.name) };
  if (!options.force) return names;
  const { describePlan, executeRecovery, planRecovery, survivorFromArgs } = await import(
    '../datastore/recovery/recover.js'
  );
  for (const node of survivors) process.kill(node.pid, 'SIGINT');
  for (const node of survivors) {
    if (!(await waitProcessExit(node.pid, LAB_LIMITS.stopTimeoutMs))) {
      throw new MicroK8sError('MK_TIMEOUT', `${node.name} (pid ${node.pid}) did not stop`);
    }
  }
  const plan = await planRecovery(survivors.map((n) => survivorFromArgs(n.argsFile)));
  await executeRecovery(plan);
  for (const node of lost) node.lost = true;
  writeLab(spec);
  await labStartMany(
    dir,
    survivors.map((n) => n.name),
  );
  return { ...names, plan: describePlan(plan) };
}
