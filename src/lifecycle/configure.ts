/**
 * The configure hook (after install, and on every `snap set`). A strict snap first checks its
 * interface connections: with one missing, nothing would work, so the snap's health is set to
 * blocked naming the missing plugs and nothing starts. Then the migrations, the `snap set`
 * options, and the node started (set up first where it never was) when the install waits for
 * its first start or the node runs: a node stopped by `microk8s stop` stays stopped. When the
 * install queued a launch configuration's addons, the launch-config app is started to enable
 * them once Kubernetes is up (snapd runs it after this hook, after the daemons it follows).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { type StartResult, startNode } from '../cluster/kubernetes/lifecycle.js';
import type { Paths } from '../lib/paths.js';
import { firstStartMarker } from './install.js';
import { pendingLaunchPlan } from './launch-plan.js';
import { type MigrationRun, runMigrations } from './migrations.js';
import { missingPlugs, requiredPlugs } from './plugs.js';
import { type AppliedOption, applyArgsOptions } from './snap-options.js';
import { setHealth, snapOptions, snapServiceStates, startSnapApp } from './snapctl.js';

/** snapcraft.yaml's oneshot app that runs `microk8s launch-config apply --wait`. */
export const LAUNCH_CONFIG_APP = 'launch-config';

export type ConfigureResult =
  | { readonly kind: 'blocked'; readonly missing: string[] }
  | {
      readonly kind: 'configured';
      readonly migrations: MigrationRun;
      readonly options: AppliedOption[];
      readonly started?: StartResult;
      /** True when the launch-config app was asked to enable the queued addons. */
      readonly launchQueued: boolean;
    };

function confinement(paths: Paths): string {
  const file = join(paths.install, 'meta', 'snap.yaml');
  return (parse(readFileSync(file, 'utf8')) as { confinement?: string }).confinement ?? 'strict';
}

async function nodeRuns(): Promise<boolean> {
  for (const state of (await snapServiceStates()).values()) if (state.enabled) return true;
  return false;
}

export async function configureHook(paths: Paths): Promise<ConfigureResult> {
  if (confinement(paths) === 'strict') {
    const missing = await missingPlugs(requiredPlugs(paths));
    if (missing.length > 0) {
      await setHealth(
        'blocked',
        `not connected: ${missing.join(', ')} (sudo snap connect microk8s:${missing[0]}, then snap set again)`,
      );
      return { kind: 'blocked', missing };
    }
  }
  const migrations = await runMigrations(paths);
  const options = await applyArgsOptions(paths, await snapOptions());
  const marker = firstStartMarker(paths);
  const firstStart = existsSync(marker);
  let started: StartResult | undefined;
  if (firstStart || (await nodeRuns())) {
    started = await startNode(paths);
    rmSync(marker, { force: true });
  }
  // The launch configuration's queued addons need Kubernetes up: the launch-config app waits for it.
  const launchQueued = started !== undefined && pendingLaunchPlan(paths) !== undefined;
  if (launchQueued) await startSnapApp(LAUNCH_CONFIG_APP);
  await setHealth('okay');
  return { kind: 'configured', migrations, options, launchQueued, ...(started ? { started } : {}) };
}
