/**
 * The lab's processes: starting a node's datastore (and, for a join-formed node, its cluster
 * agent), waiting for it to answer, signalling, stopping, and each node's status over its admin
 * socket. Liveness is the recorded pid and start time (a reused pid is not the node).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminRequest } from '../cluster/agent/local-datastore.js';
import type { NodeStatusReport } from '../datastore/node/driver.js';
import { MicroK8sError } from '../lib/errors.js';
import { openLogFile } from '../lib/file-modes.js';
import { packageRoot } from '../lib/paths.js';
import { isProcessAlive, waitProcessExit } from '../lib/process.js';
import { DATASTORE_NODE_FLAGS } from '../lib/runtime-flags.js';
import { nodeHome, spawnAgent, waitAgentListening } from './join-formation.js';
import {
  agentRunning,
  datastoreRunning,
  findNode,
  LAB_LIMITS,
  type LabNode,
  type LabNodeStatus,
  type LabSpec,
  readLab,
  recordedPids,
  startTicksOf,
  writeLab,
} from './spec.js';

/** Ask a node for its status over its admin socket; undefined if it does not answer in time. */
export async function nodeReport(node: LabNode): Promise<NodeStatusReport | undefined> {
  // Down, starting or stopping (no socket, or no answer): the caller reports it as not answering.
  return adminRequest(node.dataDir, 'GET', '/status', LAB_LIMITS.statusTimeoutMs).then(
    (body) => body as NodeStatusReport,
    () => undefined,
  );
}

export function spawnNode(node: LabNode): number {
  const out = openLogFile(node.logFile);
  const command = [
    ...(node.launcher ?? []),
    process.execPath,
    ...DATASTORE_NODE_FLAGS,
    join(packageRoot(), 'bin', 'run.js'),
    'datastore',
    'run',
    '--args-file',
    node.argsFile,
  ];
  // A launcher such as `ip netns exec` replaces itself with the command: the pid stays the node's.
  const child = spawn(command[0]!, command.slice(1), {
    detached: true,
    stdio: ['ignore', out, out],
    env: {
      ...process.env,
      MICROK8S_LOG_FILE: '',
      MICROK8S_LOG_LEVEL: process.env.MICROK8S_LAB_LOG_LEVEL ?? 'info',
    },
  });
  child.unref();
  if (child.pid === undefined) throw new MicroK8sError('MK_INTERNAL', `could not start ${node.name}`);
  return child.pid;
}

/** Start the node's datastore, recording its pid and start time in the node. */
export function startDatastore(node: LabNode): void {
  node.pid = spawnNode(node);
  node.pidStart = startTicksOf(node.pid);
}

/** Start a join-formed node's two processes: its datastore and its cluster agent. */
export function startJoinedNode(node: LabNode): void {
  mkdirSync(dirname(node.logFile), { recursive: true });
  startDatastore(node);
  node.agentPid = spawnAgent(nodeHome(dirname(node.home!), node.name));
  node.agentPidStart = startTicksOf(node.agentPid);
}

export function waitAgent(node: LabNode): Promise<void> {
  return waitAgentListening(node.address, node.agentPort!, () => agentRunning(node), node.agentLogFile!);
}

export async function waitAnswering(node: LabNode): Promise<void> {
  const deadline = Date.now() + LAB_LIMITS.readyTimeoutMs;
  while (Date.now() < deadline) {
    // Ready once it answers and knows a leader (it may still be catching up); a lost node never
    // will (its peers refuse it), so it is ready once it answers.
    const report = await nodeReport(node);
    if (report && (report.leader !== 0 || node.lost || node.removed)) return;
    if (!datastoreRunning(node))
      throw new MicroK8sError('MK_NOT_RUNNING', `${node.name} exited; see ${node.logFile}`);
    await sleep(LAB_LIMITS.pollMs);
  }
  throw new MicroK8sError(
    'MK_TIMEOUT',
    `${node.name} did not answer within ${LAB_LIMITS.readyTimeoutMs / 1000} s`,
  );
}

/** Wait until every node answers and they agree on one leader. */
export async function waitReady(spec: LabSpec, onProgress?: (line: string) => void): Promise<void> {
  const deadline = Date.now() + LAB_LIMITS.readyTimeoutMs;
  while (Date.now() < deadline) {
    const reports = await Promise.all(spec.nodes.map((n) => nodeReport(n)));
    const up = reports.filter((r) => r !== undefined);
    const leaders = new Set(up.map((r) => r.leader).filter((l) => l !== 0));
    const leader = leaders.size === 1 ? [...leaders][0] : undefined;
    onProgress?.(
      `${up.length}/${spec.nodes.length} nodes answering, leader: ${leader === undefined ? 'electing' : `node${leader}`}`,
    );
    if (up.length === spec.nodes.length && leader !== undefined && up.every((r) => r.leader === leader))
      return;
    const dead = spec.nodes.filter((n) => !datastoreRunning(n));
    if (dead.length > 0) {
      throw new MicroK8sError(
        'MK_NOT_RUNNING',
        `${dead.map((d) => d.name).join(', ')} exited; see ${dead[0]!.logFile}`,
      );
    }
    await sleep(LAB_LIMITS.pollMs);
  }
  throw new MicroK8sError(
    'MK_TIMEOUT',
    `the lab did not become ready within ${LAB_LIMITS.readyTimeoutMs / 1000} s`,
  );
}

export async function labStatus(dir: string): Promise<LabNodeStatus[]> {
  const spec = readLab(dir);
  return Promise.all(
    spec.nodes.map(async (node) => {
      const running = datastoreRunning(node);
      const report = running ? await nodeReport(node) : undefined;
      return {
        name: node.name,
        id: node.id,
        pid: node.pid,
        running,
        address: node.address,
        peerPort: node.peerPort,
        clientEndpoint: `${spec.clientTls ? 'https' : 'http'}://${node.address}:${node.clientPort}`,
        dataDir: node.dataDir,
        role: report?.role ?? (running ? 'unknown' : node.lost ? 'lost' : 'down'),
        state: node.removed
          ? `removed${report ? ` (${report.state})` : ''}`
          : node.lost
            ? `lost${report ? ` (${report.state})` : ''}`
            : (report?.state ?? (running ? 'not answering' : 'stopped')),
        term: report?.term ?? 0,
        leader: report?.leader ?? 0,
        applied: report?.applied ?? 0,
        revision: report?.revision ?? 0,
        failureDomain: report?.failureDomain ?? '',
        weight: report?.weight ?? 0,
        members: report?.state === 'leader' ? report.members : [],
      };
    }),
  );
}

/** SIGTERM (clean stop with handover) or SIGKILL one node. */
export async function labSignal(dir: string, name: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<LabNode> {
  const spec = readLab(dir);
  const node = findNode(spec, name);
  if (!datastoreRunning(node)) throw new MicroK8sError('MK_NOT_RUNNING', `${node.name} is not running`);
  // A node is a machine: its cluster agent goes down with its datastore.
  const agent = agentRunning(node) ? node.agentPid : undefined;
  if (agent !== undefined) process.kill(agent, signal);
  process.kill(node.pid, signal);
  for (const pid of agent === undefined ? [node.pid] : [node.pid, agent]) {
    if (!(await waitProcessExit(pid, LAB_LIMITS.stopTimeoutMs))) {
      throw new MicroK8sError('MK_TIMEOUT', `${node.name} (pid ${pid}) did not exit after ${signal}`);
    }
  }
  return node;
}

export async function labStart(dir: string, name: string): Promise<LabNode> {
  const [node] = await labStartMany(dir, [name]);
  return node!;
}

/** Start several nodes together (a cluster without quorum needs them all to elect a leader). */
export async function labStartMany(dir: string, names: readonly string[]): Promise<LabNode[]> {
  const spec = readLab(dir);
  const nodes = names.map((name) => findNode(spec, name));
  for (const node of nodes) {
    if (datastoreRunning(node))
      throw new MicroK8sError('MK_INVALID_ARGUMENT', `${node.name} is already running (pid ${node.pid})`);
  }
  for (const node of nodes) {
    if (node.home === undefined) startDatastore(node);
    else startJoinedNode(node);
  }
  writeLab(spec);
  for (const node of nodes) await waitAnswering(node);
  await Promise.all(nodes.filter((node) => node.home !== undefined).map((node) => waitAgent(node)));
  return nodes;
}

/**
 * Stop every node at once (SIGINT: no handover, there is nobody left to hand over to; SIGKILL if
 * one hangs); with purge, delete the lab folder.
 */
export async function labDown(dir: string, options: { purge?: boolean } = {}): Promise<number> {
  const spec = readLab(dir);
  const running = spec.nodes.flatMap((node) => recordedPids(node));
  for (const pid of running) process.kill(pid, 'SIGINT');
  await Promise.all(
    running.map(async (pid) => {
      if (!(await waitProcessExit(pid, LAB_LIMITS.stopTimeoutMs)) && isProcessAlive(pid))
        process.kill(pid, 'SIGKILL');
      await waitProcessExit(pid, LAB_LIMITS.stopTimeoutMs);
    }),
  );
  const stopped = spec.nodes.filter((node) => running.includes(node.pid)).length;
  if (options.purge) rmSync(dir, { recursive: true, force: true });
  return stopped;
}
