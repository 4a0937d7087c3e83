/**
 * Starting this node's daemons when no service manager does it (outside a snap: a developer's
 * machine, the tests): detached, logs under the logs folder, a pid file under the run folder
 * (what `microk8s status` reads), and a bounded wait for the datastore to become a member.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MicroK8sError } from '../../lib/errors.js';
import { packageRoot } from '../../lib/paths.js';
import { isProcessAlive } from '../../lib/process.js';
import type { AgentContext } from './context.js';
import { AGENT_LIMITS } from './limits.js';
import { localStatusIfRunning } from './local-datastore.js';

/** The command that runs one of our daemons, as a user would type it. */
export function daemonCommand(args: readonly string[]): string[] {
  return [process.execPath, join(packageRoot(), 'bin', 'run.js'), ...args];
}

export function spawnDaemon(ctx: AgentContext, name: string, args: readonly string[]): number {
  mkdirSync(ctx.paths.logs, { recursive: true });
  mkdirSync(ctx.paths.run, { recursive: true });
  const out = openSync(join(ctx.paths.logs, `${name}.log`), 'a');
  const [command, ...rest] = daemonCommand(args);
  const child = spawn(command!, rest, { detached: true, stdio: ['ignore', out, out], env: process.env });
  child.unref();
  if (child.pid === undefined) throw new MicroK8sError('MK_INTERNAL', `could not start ${name}`);
  writeFileSync(join(ctx.paths.run, `${name}.pid`), `${child.pid}\n`);
  return child.pid;
}

/** Wait until the local datastore knows a leader and counts itself (`nodeId`) as a member. */
export async function waitForMembership(
  dataDir: string,
  nodeId: number,
  pid: number,
  timeoutMs: number = AGENT_LIMITS.startWaitMs,
  onProgress: (line: string) => void = () => {},
): Promise<{ role: string; leader: number; members: number }> {
  const started = Date.now();
  let lastProgress = 0;
  while (Date.now() - started < timeoutMs) {
    const status = await localStatusIfRunning(dataDir);
    const self = status?.members.find((m) => m.id === nodeId);
    if (status && status.leader !== 0 && self) {
      return { role: self.role, leader: status.leader, members: status.members.length };
    }
    if (!isProcessAlive(pid)) {
      throw new MicroK8sError(
        'MK_NOT_RUNNING',
        `the datastore (pid ${pid}) exited while joining; see its log`,
      );
    }
    if (Date.now() - lastProgress >= AGENT_LIMITS.progressEveryMs) {
      lastProgress = Date.now();
      const seconds = Math.round((Date.now() - started) / 1000);
      onProgress(
        status === undefined
          ? `waiting for the datastore to start (${seconds} s)`
          : `waiting to be added to the cluster (leader: ${status.leader || 'unknown'}, ${seconds} s)`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, AGENT_LIMITS.startPollMs));
  }
  throw new MicroK8sError(
    'MK_TIMEOUT',
    `the datastore did not become a member within ${Math.round(timeoutMs / 1000)} s; it keeps trying (pid ${pid})`,
  );
}
