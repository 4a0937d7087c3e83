/**
 * The install hook: the node's folders, certificates and default args, made a single-node
 * cluster (the same set-up `microk8s start` does on a fresh node), with the launch
 * configuration's address and hostname when there is one (launch-config.ts). Nothing starts here: the
 * daemons are installed disabled and configure, which snapd runs next, starts them. A marker in
 * SNAP_DATA tells configure that this install still waits for its first start.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureKubernetesNode, type SetupResult } from '../cluster/kubernetes/setup.js';
import type { Paths } from '../lib/paths.js';
import { readLaunchConfig } from './launch-config.js';

export function firstStartMarker(paths: Paths): string {
  return join(paths.data, '.start-after-install');
}

export async function installHook(paths: Paths): Promise<SetupResult> {
  for (const dir of [paths.data, paths.common, paths.args, paths.certs, paths.logs, paths.run])
    mkdirSync(dir, { recursive: true });
  const setup = await ensureKubernetesNode(paths, readLaunchConfig(paths)?.setup ?? {});
  writeFileSync(firstStartMarker(paths), `${new Date().toISOString()}\n`);
  return setup;
}
