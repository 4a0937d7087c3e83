/**
 * `microk8s status` on a worker: it runs no datastore, so its state is its API-server proxy's.
 * A node is a worker when it has the proxy's args file and no datastore args file (a worker
 * join moves the latter aside). The proxy daemon publishes each upstream's health in its state
 * file after every round; status only reads it, and trusts it only while its pid is alive.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { isRecordedProcessAlive } from '../node/process-identity.js';
import { currentNodeRecord } from '../node/record.js';

/** What the proxy's process runs (a reused pid runs something else). */
const PROXY_COMMAND = ['apiserver-proxy', 'run'];

import { readNodeStatus, type ServiceState } from '../services/status.js';
import { type ProxyStateFile, proxyStateFile } from './apiserver-proxy/daemon.js';

export interface WorkerUpstream {
  readonly upstream: string;
  readonly healthy: boolean;
  readonly lastError?: string;
}

export interface WorkerStatus {
  readonly running: true;
  readonly role: 'worker';
  /** The proxy runs and at least one control-plane API server is healthy. */
  readonly ready: boolean;
  readonly apiserverProxy: {
    readonly listen: string;
    readonly upstreams: WorkerUpstream[];
    /** When the proxy last published its view. */
    readonly at: string;
  };
  readonly services: ServiceState[];
}

/** From the node record (src/node/record.ts), never from which args files exist. */
export function isWorkerNode(paths: Paths): boolean {
  return currentNodeRecord(paths).kind === 'worker';
}

function liveState(paths: Paths): ProxyStateFile | undefined {
  try {
    const state = JSON.parse(readFileSync(proxyStateFile(paths), 'utf8')) as ProxyStateFile;
    return isRecordedProcessAlive(state.pid, { command: PROXY_COMMAND }) ? state : undefined;
  } catch {
    return undefined;
  }
}

/** The worker's status now; MK_NOT_RUNNING when its proxy does not run. */
function readWorkerStatus(paths: Paths): WorkerStatus {
  const services = readNodeStatus(paths).services;
  const state = liveState(paths);
  if (state === undefined) {
    throw new MicroK8sError(
      'MK_NOT_RUNNING',
      'microk8s is not running: this worker has no API-server proxy running',
      {
        role: 'worker',
        services,
      },
    );
  }
  const upstreams = state.upstreams.map((u) => ({
    upstream: u.upstream,
    healthy: u.healthy,
    ...(u.lastError ? { lastError: u.lastError } : {}),
  }));
  return {
    running: true,
    role: 'worker',
    ready: upstreams.some((u) => u.healthy),
    apiserverProxy: { listen: state.listen, upstreams, at: state.at },
    services,
  };
}

export function formatWorkerPretty(status: WorkerStatus): string {
  const p = status.apiserverProxy;
  const lines = [
    'microk8s is running',
    'node role: worker (no datastore)',
    `  apiserver proxy: ${p.listen}`,
    ...p.upstreams.map(
      (u) => `    ${u.upstream}  ${u.healthy ? 'healthy' : `down${u.lastError ? ` (${u.lastError})` : ''}`}`,
    ),
    'services:',
    ...status.services.map((s) => `  ${s.name}: ${s.running ? `running (pid ${s.pid})` : 'stopped'}`),
  ];
  return lines.join('\n');
}

/** With waitReady: poll until the proxy runs with a healthy upstream, until `deadline` (ms). */
export async function workerStatus(
  paths: Paths,
  waitReady: boolean,
  deadline: number,
  pollMs: number,
): Promise<WorkerStatus> {
  for (;;) {
    let status: WorkerStatus | undefined;
    let failure: unknown;
    try {
      status = readWorkerStatus(paths);
    } catch (error) {
      failure = error;
    }
    const more = waitReady && status?.ready !== true && Date.now() + pollMs < deadline;
    if (!more) {
      if (status === undefined) throw failure;
      if (waitReady && !status.ready)
        throw new MicroK8sError(
          'MK_PROXY_NO_UPSTREAM',
          'the API-server proxy runs but no control-plane API server is healthy',
          {
            role: 'worker',
          },
        );
      return status;
    }
    await sleep(pollMs);
  }
}
