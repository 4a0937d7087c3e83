import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Environment } from './paths.js';
import { packageRoot } from './paths.js';

export interface VersionInfo {
  version: string;
  revision: string;
  source: 'snap' | 'package';
}

/** Inside a snap the snap's version and revision; outside, the package version. */
export function versionInfo(env: Environment = process.env): VersionInfo {
  if (env.SNAP_VERSION) {
    return { version: env.SNAP_VERSION, revision: env.SNAP_REVISION ?? 'unknown', source: 'snap' };
  }
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return { version: pkg.version, revision: 'dev', source: 'package' };
}
