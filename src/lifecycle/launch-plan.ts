/**
 * The launch configuration's addons, queued by the install hook and applied once the node is
 * up. Enabling an addon needs a running Kubernetes, which the install hook does not have (snapd
 * starts the daemons after configure), so install writes the plan to $SNAP_COMMON and
 * `microk8s launch-config apply` runs it through the one enable/disable path of the addons
 * library. Each addon is marked done as it finishes, so an apply that fails half way resumes
 * with the first addon not done; a plan done to the end is kept as launch-plan.done.json.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { AddonOutcome, DisableOptions, Progress } from '../addons/operations.js';
import { kubernetesHealth, kubernetesServes } from '../cluster/kubernetes/health.js';
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { writeFileAtomic } from '../node/atomic-write.js';
import type { LaunchAddon, LaunchConfig } from './launch-config.js';

export interface LaunchPlan {
  /** The launch configuration file the plan came from. */
  readonly source: string;
  readonly queuedAt: string;
  readonly addons: LaunchAddon[];
  /** How many addons, from the first, are done. */
  readonly done: number;
}

export interface AddonOperations {
  readonly enable: (paths: Paths, words: readonly string[], progress: Progress) => Promise<AddonOutcome[]>;
  readonly disable: (
    paths: Paths,
    words: readonly string[],
    options: DisableOptions,
    progress: Progress,
  ) => Promise<AddonOutcome[]>;
}

export function launchPlanFile(paths: Paths): string {
  return join(paths.common, 'launch-plan.json');
}

export function launchPlanDoneFile(paths: Paths): string {
  return join(paths.common, 'launch-plan.done.json');
}

export async function queueLaunchPlan(paths: Paths, config: LaunchConfig): Promise<LaunchPlan> {
  const plan: LaunchPlan = {
    source: config.file,
    queuedAt: new Date().toISOString(),
    addons: config.addons,
    done: 0,
  };
  await writeFileAtomic(launchPlanFile(paths), `${JSON.stringify(plan, null, 2)}\n`);
  return plan;
}

export function pendingLaunchPlan(paths: Paths): LaunchPlan | undefined {
  const file = launchPlanFile(paths);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as LaunchPlan) : undefined;
}

/** The words `microk8s enable`/`disable` takes for one addon of the plan: NAME then its args. */
export function addonWords(addon: LaunchAddon): string[] {
  return [addon.name, ...addon.args];
}

export interface LaunchPlanRun {
  readonly outcomes: AddonOutcome[];
  /** False when there was no plan pending. */
  readonly pending: boolean;
}

/** Runs the pending plan's addons not done yet, in order; throws at the first that fails. */
export async function applyLaunchPlan(
  paths: Paths,
  ops: AddonOperations,
  progress: Progress,
): Promise<LaunchPlanRun> {
  let plan = pendingLaunchPlan(paths);
  if (plan === undefined) return { outcomes: [], pending: false };
  const outcomes: AddonOutcome[] = [];
  for (const addon of plan.addons.slice(plan.done)) {
    const words = addonWords(addon);
    progress(`launch configuration: ${addon.disable ? 'disable' : 'enable'} ${words.join(' ')}`);
    const done = addon.disable
      ? await ops.disable(paths, words, { purge: false, force: false }, progress)
      : await ops.enable(paths, words, progress);
    outcomes.push(...done);
    plan = { ...plan, done: plan.done + 1 };
    await writeFileAtomic(launchPlanFile(paths), `${JSON.stringify(plan, null, 2)}\n`);
  }
  renameSync(launchPlanFile(paths), launchPlanDoneFile(paths));
  return { outcomes, pending: true };
}

/** How often an apply waiting for the node to come up looks again. */
const POLL_MS = 5_000;

/** Whether this node's Kubernetes serves: the API server ready and this node Ready in it. */
async function kubernetesUp(paths: Paths): Promise<boolean> {
  try {
    return kubernetesServes(await kubernetesHealth(paths));
  } catch {
    return false; // no admin credentials yet, or no answer: not up
  }
}

/**
 * applyLaunchPlan once this node's Kubernetes serves, waiting up to `waitMs` for it; the plan
 * stays queued (MK_NOT_RUNNING) when it does not come up in time.
 */
export async function applyLaunchPlanWhenUp(
  paths: Paths,
  ops: AddonOperations,
  progress: Progress,
  waitMs: number,
  up: (paths: Paths) => Promise<boolean> = kubernetesUp,
): Promise<LaunchPlanRun> {
  const plan = pendingLaunchPlan(paths);
  if (plan === undefined) return { outcomes: [], pending: false };
  const deadline = Date.now() + waitMs;
  while (!(await up(paths))) {
    if (Date.now() + POLL_MS > deadline) {
      throw new MicroK8sError(
        'MK_NOT_RUNNING',
        `Kubernetes on this node did not serve within ${Math.round(waitMs / 1000)} s: the launch configuration's addons (${plan.addons.map((a) => a.name).join(', ')}) stay queued`,
        { plan: launchPlanFile(paths) },
      );
    }
    progress(
      `waiting for Kubernetes on this node to serve (${Math.round((deadline - Date.now()) / 1000)} s left)`,
    );
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return applyLaunchPlan(paths, ops, progress);
}
