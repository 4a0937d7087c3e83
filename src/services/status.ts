/**
 * What runs on this node. A service that runs has a pid file under the run folder whose process
 * is alive; nothing else counts, so status never reports a service it cannot see.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Paths } from '../lib/paths.js';
import { isRecordedProcessAlive, readPidFile } from '../node/process-identity.js';
import { SERVICE_NAMES, serviceArgsFile, serviceSpec } from './catalog.js';

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

/** The command a pid file's process must run to be that service (a reused pid runs another). */
function commandOf(paths: Paths, name: string): readonly string[] | undefined {
  if (!(SERVICE_NAMES as readonly string[]).includes(name)) return undefined;
  const spec = serviceSpec(name);
  return spec.run?.(serviceArgsFile(paths, spec.name));
}

export function readNodeStatus(paths: Paths): NodeStatus {
  const services: ServiceState[] = [];
  if (existsSync(paths.run)) {
    for (const file of readdirSync(paths.run).sort()) {
      if (!file.endsWith('.pid')) continue;
      const pid = readPidFile(join(paths.run, file));
      if (pid === undefined) continue;
      const name = file.slice(0, -'.pid'.length);
      services.push({ name, pid, running: isRecordedProcessAlive(pid, { command: commandOf(paths, name) }) });
    }
  }
  return {
    running: services.some((s) => s.running),
    inSnap: paths.inSnap,
    dataDir: paths.data,
    services,
  };
}
