/**
 * The install hook: the node's folders, certificates and default args, made a single-node
 * cluster (the same set-up `microk8s start` does on a fresh node), or joined to the cluster the
 * launch configuration names (launch-config.ts). The launch configuration is read and checked
 * before anything is written, so a bad one fails the install with nothing changed. Its address,
 * hostname and external etcd shape the set-up, its extra args are written into the args files
 * after it, and its addons are queued for `microk8s launch-config apply` once the node is up
 * (launch-plan.ts). Nothing starts here: the daemons are installed disabled and configure,
 * which snapd runs next, starts them. A marker in SNAP_DATA tells configure that this install
 * still waits for its first start.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentContext } from '../cluster/agent/context.js';
import { runJoin } from '../cluster/agent/join.js';
import { ensureKubernetesNode, type SetupResult } from '../cluster/kubernetes/setup.js';
import type { Paths } from '../lib/paths.js';
import { editArgsFile } from '../node/args-file.js';
import { serviceArgsFile } from '../services/catalog.js';
import { readLaunchConfig } from './launch-config.js';
import { type LaunchPlan, queueLaunchPlan } from './launch-plan.js';

export function firstStartMarker(paths: Paths): string {
  return join(paths.data, '.start-after-install');
}

export interface InstallResult extends SetupResult {
  /** The launch configuration file applied, if there was one. */
  readonly launchConfig?: string;
  readonly joined?: string;
  /** Args files the launch configuration changed. */
  readonly argsChanged: string[];
  readonly plan?: LaunchPlan;
}

export async function installHook(paths: Paths): Promise<InstallResult> {
  const launch = readLaunchConfig(paths);
  for (const dir of [paths.data, paths.common, paths.args, paths.certs, paths.logs, paths.run])
    mkdirSync(dir, { recursive: true });
  let joined: string | undefined;
  if (launch?.join) {
    const to = await runJoin(agentContext(paths), {
      joinString: launch.join.url,
      worker: launch.join.worker,
      skipVerify: false,
      start: false,
      ...(launch.setup.address ? { address: launch.setup.address } : {}),
      ...(launch.setup.hostname ? { hostname: launch.setup.hostname } : {}),
    });
    joined = `${to.kind} of ${launch.join.url.split('/')[0]}`;
  }
  const setup = await ensureKubernetesNode(paths, launch?.setup ?? {});
  const argsChanged: string[] = [];
  for (const args of launch?.args ?? []) {
    const edit = await editArgsFile(serviceArgsFile(paths, args.service), {
      set: args.set,
      remove: args.remove,
    });
    if (edit.changed) argsChanged.push(args.service);
  }
  const plan = launch && launch.addons.length > 0 ? await queueLaunchPlan(paths, launch) : undefined;
  writeFileSync(firstStartMarker(paths), `${new Date().toISOString()}\n`);
  return {
    ...setup,
    argsChanged,
    ...(launch ? { launchConfig: launch.file } : {}),
    ...(joined ? { joined } : {}),
    ...(plan ? { plan } : {}),
  };
}
