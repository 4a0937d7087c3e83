/**
 * The interfaces a strict node cannot work without: the microk8s app's plugs as the installed
 * snap declares them ($SNAP/meta/snap.yaml, generated from snap/snapcraft.yaml), so the list
 * lives in one place. configure asks snapctl for each and names the missing ones.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { isConnected } from './snapctl.js';

export function requiredPlugs(paths: Paths): string[] {
  const file = join(paths.install, 'meta', 'snap.yaml');
  let snap: { apps?: Record<string, { plugs?: string[] }> };
  try {
    snap = parse(readFileSync(file, 'utf8')) as typeof snap;
  } catch (error) {
    throw new MicroK8sError(
      'MK_INVALID_CONFIG',
      `cannot read the snap's metadata ${file}: ${(error as Error).message}`,
    );
  }
  return [...(snap.apps?.microk8s?.plugs ?? [])];
}

/** The plugs of `plugs` that are not connected, in order. */
export async function missingPlugs(plugs: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const plug of plugs) if (!(await isConnected(plug))) missing.push(plug);
  return missing;
}
