/**
 * The launch configuration the install hook applies: /etc/microk8s.yaml, else
 * $SNAP_COMMON/.microk8s.yaml (a file put there before `snap install`, as with MicroK8s). Read
 * here: `version` and the node's `address` and `hostname`. Any other key is refused by name
 * rather than silently ignored (addons, args, a join string and an external etcd are not
 * applied by this version yet).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { SetupOptions } from '../cluster/kubernetes/setup.js';
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';

const KNOWN = ['version', 'address', 'hostname'];

export function launchConfigFiles(paths: Paths): string[] {
  return ['/etc/microk8s.yaml', join(paths.common, '.microk8s.yaml')];
}

export interface LaunchConfig {
  readonly file: string;
  readonly setup: SetupOptions;
}

export function readLaunchConfig(
  paths: Paths,
  files: readonly string[] = launchConfigFiles(paths),
): LaunchConfig | undefined {
  const file = files.find((f) => existsSync(f));
  if (file === undefined) return undefined;
  const invalid = (why: string): never => {
    throw new MicroK8sError('MK_INVALID_CONFIG', `launch configuration ${file}: ${why}`, { file });
  };
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (error) {
    invalid(`not YAML (${(error as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return invalid('not a mapping');
  const config = doc as Record<string, unknown>;
  const unknown = Object.keys(config).filter((k) => !KNOWN.includes(k));
  if (unknown.length > 0)
    invalid(`${unknown.join(', ')}: not supported by this version (it reads ${KNOWN.join(', ')})`);
  const setup: { address?: string; hostname?: string } = {};
  for (const key of ['address', 'hostname'] as const) {
    const value = config[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') invalid(`${key} must be a non-empty string`);
    setup[key] = value as string;
  }
  return { file, setup };
}
