/**
 * `microk8s start` and `microk8s stop` outside a snap (in a snap, snapctl does it). start sets
 * a new node up when it never was (what the install hook does), then runs the supervisor as a
 * detached process that outlives the command; stop asks the supervisor to take everything down
 * (daemons, containers, shims) and waits for it, bounded.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MicroK8sError } from '../../lib/errors.js';
import type { Paths } from '../../lib/paths.js';
import { isProcessAlive, waitProcessExit } from '../../lib/process.js';
import { resolveUpstreamPaths } from '../../lib/upstream-paths.js';
import { currentNodeRecord } from '../../node/record.js';
import { SERVICE_NAMES, type ServiceName } from '../../services/catalog.js';
import { snapctlServices } from '../../services/restart.js';
import { spawnDaemon } from '../../services/spawn.js';
import {
  readSupervisorReport,
  runningSupervisor,
  type SupervisorReport,
} from '../../services/supervisor/state.js';
import { cleanupAfterStop } from '../../services/upstream/cleanup.js';
import { upstreamLayout } from '../../services/upstream/layout.js';
import { usesEmbeddedDatastore } from './node-daemons.js';
import { ensureKubernetesNode, type SetupOptions, type SetupResult } from './setup.js';

export const LIFECYCLE_LIMITS = {
  /** How long start waits for the supervisor to have started every service once. */
  startWaitMs: 5 * 60_000,
  /** How long stop waits for the supervisor to take everything down. */
  stopWaitMs: 3 * 60_000,
  pollMs: 250,
} as const;

export interface StartFlags {
  readonly address?: string | undefined;
  readonly hostname?: string | undefined;
  readonly etcdEndpoints?: string | undefined;
  readonly etcdCaFile?: string | undefined;
  readonly etcdCertFile?: string | undefined;
  readonly etcdKeyFile?: string | undefined;
}

/** The setup options from start's flags; an external etcd needs https endpoints and all three files. */
export function startOptions(flags: StartFlags): SetupOptions {
  const options: { address?: string; hostname?: string; externalEtcd?: SetupOptions['externalEtcd'] } = {};
  if (flags.address !== undefined) options.address = flags.address;
  if (flags.hostname !== undefined) options.hostname = flags.hostname;
  if (flags.etcdEndpoints !== undefined) {
    const endpoints = flags.etcdEndpoints
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean);
    for (const endpoint of endpoints) {
      let url: URL | undefined;
      try {
        url = new URL(endpoint);
      } catch {
        url = undefined;
      }
      if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.port === '') {
        throw new MicroK8sError(
          'MK_INVALID_ARGUMENT',
          `--etcd-endpoints: '${endpoint}' is not a URL like https://HOST:2379`,
        );
      }
    }
    const files = { caFile: flags.etcdCaFile, certFile: flags.etcdCertFile, keyFile: flags.etcdKeyFile };
    for (const [name, file] of Object.entries(files)) {
      if (file === undefined || !isAbsolute(file) || !existsSync(file)) {
        throw new MicroK8sError(
          'MK_INVALID_ARGUMENT',
          `--etcd-${name.toLowerCase()}: give the absolute path of an existing file`,
          {
            flag: name,
          },
        );
      }
    }
    options.externalEtcd = {
      kind: 'external',
      endpoints,
      caFile: files.caFile!,
      certFile: files.certFile!,
      keyFile: files.keyFile!,
    };
  }
  return options;
}

export interface StartResult {
  /** Who runs the services: our supervisor outside a snap, snapd inside one. */
  readonly managedBy: 'supervisor' | 'snapd';
  readonly setup: SetupResult;
  readonly alreadyRunning: boolean;
  readonly supervisorPid: number;
  readonly report: SupervisorReport;
}

/** The binaries a start needs, checked before anything is set up or spawned. */
function requireUpstream(): void {
  const bin = resolveUpstreamPaths().bin;
  for (const name of ['kube-apiserver', 'kubelet', 'containerd', 'runc', 'flanneld']) {
    if (!existsSync(join(bin, name))) {
      throw new MicroK8sError('MK_UPSTREAM_MISSING', `${name} is not installed at ${join(bin, name)}`, {
        binary: name,
      });
    }
  }
}

/** What snapd runs for a node, in start order (the snap ships every binary). */
export function snapServices(paths: Paths): ServiceName[] {
  // The catalog's order is the start order; a worker runs no control plane, no datastore.
  const worker = currentNodeRecord(paths).kind === 'worker';
  const controlPlane = [
    'datastore',
    'cluster-agent',
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
  ];
  return SERVICE_NAMES.filter((name) => {
    if (name === 'apiserver-proxy') return worker;
    if (name === 'datastore' && !usesEmbeddedDatastore(paths)) return false;
    return !(worker && controlPlane.includes(name));
  });
}

export async function startNode(paths: Paths, options: SetupOptions = {}): Promise<StartResult> {
  if (paths.inSnap) {
    // snapd is the supervisor in a snap: the same setup, then snapctl starts its services.
    const setup = await ensureKubernetesNode(paths, options);
    const apps = await snapctlServices('start', snapServices(paths));
    return { managedBy: 'snapd', setup, alreadyRunning: false, supervisorPid: 0, report: snapReport(apps) };
  }
  requireUpstream();
  const setup = await ensureKubernetesNode(paths, options);
  const running = runningSupervisor(paths.run);
  if (running)
    return {
      managedBy: 'supervisor',
      setup,
      alreadyRunning: true,
      supervisorPid: running.pid,
      report: running,
    };
  // Daemons log at info (this command runs at warn, which its children would inherit).
  const pid = spawnDaemon(paths, 'supervisor', ['supervisor', 'run'], { MICROK8S_LOG_LEVEL: 'info' });
  const deadline = Date.now() + LIFECYCLE_LIMITS.startWaitMs;
  while (Date.now() < deadline) {
    const report = readSupervisorReport(paths.run);
    if (report && report.pid === pid && report.phase === 'running') {
      return { managedBy: 'supervisor', setup, alreadyRunning: false, supervisorPid: pid, report };
    }
    if (!isProcessAlive(pid)) {
      throw new MicroK8sError(
        'MK_SERVICE_RESTART',
        `the supervisor exited while starting; see ${join(paths.logs, 'supervisor.log')}`,
      );
    }
    await sleep(LIFECYCLE_LIMITS.pollMs);
  }
  throw new MicroK8sError(
    'MK_TIMEOUT',
    `the services did not all start within ${LIFECYCLE_LIMITS.startWaitMs / 1000} s`,
  );
}

/** What `microk8s start` prints. */
export function formatStartResult(result: StartResult): string[] {
  const lines = result.setup.initialised
    ? [`set up a new single-node cluster on ${result.setup.address}`]
    : [];
  const names = result.report.services.map((s) => s.name).join(', ');
  if (result.managedBy === 'snapd') lines.push(`started by snapd: ${names}`);
  else if (result.alreadyRunning) lines.push(`already running (supervisor pid ${result.supervisorPid})`);
  else lines.push(`started (supervisor pid ${result.supervisorPid}): ${names}`);
  return lines;
}

export interface StopResult {
  readonly wasRunning: boolean;
  readonly forced: boolean;
}

function snapReport(apps: readonly string[]): SupervisorReport {
  const now = new Date().toISOString();
  return {
    pid: 0,
    phase: 'running',
    updated: now,
    services: apps.map((name) => ({ name, state: 'starting', restarts: 0, since: now, warnings: [] })),
  };
}

export async function stopNode(paths: Paths): Promise<StopResult> {
  if (paths.inSnap) {
    await snapctlServices('stop', [...snapServices(paths)].reverse());
    return { wasRunning: true, forced: false };
  }
  const running = runningSupervisor(paths.run);
  if (!running) {
    // Nothing supervises this node; what a crashed supervisor left behind still goes.
    await cleanupAfterStop(resolveUpstreamPaths(), upstreamLayout(paths));
    return { wasRunning: false, forced: false };
  }
  process.kill(running.pid, 'SIGTERM');
  if (await waitProcessExit(running.pid, LIFECYCLE_LIMITS.stopWaitMs))
    return { wasRunning: true, forced: false };
  // The supervisor is stuck: its daemons' process groups and the containers go the hard way.
  for (const service of running.services) {
    if (service.pid === undefined) continue;
    try {
      process.kill(-service.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  process.kill(running.pid, 'SIGKILL');
  await cleanupAfterStop(resolveUpstreamPaths(), upstreamLayout(paths));
  return { wasRunning: true, forced: true };
}
