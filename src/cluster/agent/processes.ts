/**
 * Bounded waits after this node's daemons were started outside a service manager (see
 * services/spawn.ts): for the datastore to become a member, for a worker's API-server proxy to
 * listen.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { MicroK8sError } from '../../lib/errors.js';
import type { Paths } from '../../lib/paths.js';
import { isProcessAlive } from '../../lib/process.js';
import { type ProxyStateFile, proxyStateFile } from '../apiserver-proxy/daemon.js';
import { AGENT_LIMITS } from './limits.js';
import { localStatusIfRunning } from './local-datastore.js';

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
    await sleep(AGENT_LIMITS.startPollMs);
  }
  throw new MicroK8sError(
    'MK_TIMEOUT',
    `the datastore did not become a member within ${Math.round(timeoutMs / 1000)} s; it keeps trying (pid ${pid})`,
  );
}

/**
 * Wait until the API-server proxy `pid` listens: it publishes its state file (with its pid) only
 * after it bound its port and checked every upstream once.
 */
export async function waitForProxy(
  paths: Paths,
  pid: number,
  timeoutMs: number = AGENT_LIMITS.startWaitMs,
): Promise<ProxyStateFile> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const state = await readFile(proxyStateFile(paths), 'utf8')
      .then((text) => JSON.parse(text) as ProxyStateFile)
      .catch(() => undefined);
    if (state?.pid === pid) return state;
    if (!isProcessAlive(pid)) {
      throw new MicroK8sError(
        'MK_NOT_RUNNING',
        `the API-server proxy (pid ${pid}) exited at start; see its log`,
      );
    }
    await sleep(AGENT_LIMITS.startPollMs);
  }
  throw new MicroK8sError(
    'MK_TIMEOUT',
    `the API-server proxy (pid ${pid}) did not listen within ${Math.round(timeoutMs / 1000)} s`,
  );
}
