/**
 * What runs on this node. A service that runs has a pid file under the run folder whose process
 * is alive; nothing else counts, so status never reports a service it cannot see.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Paths } from '../lib/paths.js';
import { isProcessAlive } from '../lib/process.js';

export interface ServiceState {
  name: string;
  pid: number;
  running: boolean;
}

export interface NodeStatus {
  running: boolean;
  inSnap: boolean;
  dataDir: string;
  services: ServiceState[];
}

export function readNodeStatus(paths: Paths): NodeStatus {
  const services: ServiceState[] = [];
  if (existsSync(paths.run)) {
    for (const file of readdirSync(paths.run).sort()) {
      if (!file.endsWith('.pid')) continue;
      const pid = Number.parseInt(readFileSync(join(paths.run, file), 'utf8').trim(), 10);
      if (!Number.isInteger(pid) || pid <= 0) continue;
      services.push({ name: file.slice(0, -'.pid'.length), pid, running: isProcessAlive(pid) });
    }
  }
  return {
    running: services.some((s) => s.running),
    inSnap: paths.inSnap,
    dataDir: paths.data,
    services,
  };
}
