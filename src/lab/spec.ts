/**
 * The lab's description: its nodes (addresses, ports, folders, recorded processes), kept in one
 * file, lab.json, replaced atomically after every change. What the other lab modules share.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MemberReport } from '../datastore/node/roles-agent.js';
import { MicroK8sError } from '../lib/errors.js';
import { writeFileAtomicSync } from '../node/atomic-write.js';
import { isRecordedProcessAlive, processStartTicks } from '../node/process-identity.js';

export interface LabNode {
  readonly id: number;
  readonly name: string;
  readonly address: string;
  readonly peerPort: number;
  readonly clientPort: number;
  readonly dataDir: string;
  readonly argsFile: string;
  readonly logFile: string;
  /** A command prefix the node runs under, e.g. `ip netns exec NS` (tests that cut networks). */
  readonly launcher?: readonly string[];
  pid: number;
  /** The datastore process's start time (/proc), so a reused pid is not taken for the node. */
  pidStart?: number;
  /** Left out by a quorum-loss recovery: its peers refuse it until it is re-joined. */
  lost?: boolean;
  /** Removed by an operator (lab remove): its peers refuse it until it is re-joined. */
  removed?: boolean;
  /** A node formed through add-node/join: its MICROK8S_HOME and its cluster agent. */
  home?: string;
  agentPort?: number;
  agentPid?: number;
  agentPidStart?: number;
  agentLogFile?: string;
}

export interface LabSpec {
  readonly clusterId: string;
  readonly dir: string;
  readonly nodes: LabNode[];
  /**
   * Set when the nodes serve etcd over TLS with client certificates (a lab whose nodes are not on
   * loopback, e.g. in network namespaces): a client certificate for the lab's own clients.
   */
  readonly clientTls?: { readonly ca: string; readonly cert: string; readonly key: string };
  /** How the cluster was formed (absent in labs written before join formation: seed). */
  readonly formation?: LabFormation;
}

/**
 * join: every node is set up alone (`agent init`) and joins node 1 through `add-node`/`join`, as
 * users build clusters. seed: every node starts from one bootstrap configuration naming all of
 * them (faster, plain TCP clients on loopback; for tests and benchmarks about the datastore).
 */
export type LabFormation = 'join' | 'seed';

export interface LabNodeStatus {
  readonly name: string;
  readonly id: number;
  readonly pid: number;
  readonly running: boolean;
  readonly address: string;
  readonly peerPort: number;
  readonly clientEndpoint: string;
  readonly dataDir: string;
  readonly role: string;
  readonly state: string;
  readonly term: number;
  readonly leader: number;
  readonly applied: number;
  readonly revision: number;
  readonly failureDomain: string;
  readonly weight: number;
  /** The leader's view of every member (only on the leader's row). */
  readonly members: readonly MemberReport[];
}

export const LAB_LIMITS = {
  maxNodes: 9,
  readyTimeoutMs: 60_000,
  statusTimeoutMs: 1_500,
  stopTimeoutMs: 15_000,
  pollMs: 200,
} as const;

export interface LabUpOptions {
  nodes: number;
  dir: string;
  /** First node address; the next nodes count up in the last octet. */
  baseAddress?: string;
  peerPort?: number;
  clientPort?: number;
  clusterId?: string;
  /** Called while waiting, with a one-line description of the progress. */
  onProgress?: (line: string) => void;
  /** Extra flags written into every node's args file (tests). */
  extraArgs?: readonly string[];
  /** Failure domain of each node (default zone-1, zone-2, zone-3, zone-1, ...). */
  failureDomains?: readonly string[];
  /** Weight of each node (default 0). */
  weights?: readonly number[];
  /** Standbys at bootstrap (default 3; the planner adjusts roles afterwards anyway). */
  bootstrapStandbys?: number;
  /** A command prefix per node (network namespaces in tests); allows non-loopback addresses. */
  launcher?: (name: string, index: number) => readonly string[];
  /** Default join. Namespaced labs (a launcher) are seeded. */
  formation?: LabFormation;
  /** The cluster agents' port in a join-formed lab (default 25000). */
  agentPort?: number;
}

export function specPath(dir: string): string {
  return join(dir, 'lab.json');
}

export function readLab(dir: string): LabSpec {
  const path = specPath(dir);
  if (!existsSync(path)) {
    throw new MicroK8sError('MK_NOT_RUNNING', `no lab in ${dir}: run \`microk8s lab up\` first`, { dir });
  }
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LabSpec;
  } catch (error) {
    throw new MicroK8sError('MK_DATA_CORRUPTION', `cannot read ${path}: ${(error as Error).message}`);
  }
}

export function writeLab(spec: LabSpec): void {
  writeFileAtomicSync(specPath(spec.dir), `${JSON.stringify(spec, null, 2)}\n`);
}

export function addressOf(base: string, offset: number, anyIPv4 = false): string {
  const parts = base.split('.').map(Number);
  const ok = parts.length === 4 && parts.every((p) => Number.isInteger(p) && p >= 0 && p <= 255);
  if (!ok || (!anyIPv4 && parts[0] !== 127)) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `the lab needs a loopback base address (127.x.y.z), got ${base}`,
    );
  }
  const last = parts[3]! + offset;
  if (last > 254) throw new MicroK8sError('MK_INVALID_ARGUMENT', `too many nodes for base address ${base}`);
  return `${parts[0]}.${parts[1]}.${parts[2]}.${last}`;
}

export function findNode(spec: LabSpec, name: string): LabNode {
  const node = spec.nodes.find((n) => n.name === name || String(n.id) === name);
  if (!node) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `no node '${name}' in the lab; nodes: ${spec.nodes.map((n) => n.name).join(', ')}`,
    );
  }
  return node;
}

/** Whether the node's datastore process still runs: its recorded pid and start time (pid reuse). */
export function datastoreRunning(node: LabNode): boolean {
  return isRecordedProcessAlive(node.pid, { startTicks: node.pidStart });
}

/** Whether the node's cluster agent still runs (a join-formed node), by pid and start time. */
export function agentRunning(node: LabNode): boolean {
  return (
    node.agentPid !== undefined && isRecordedProcessAlive(node.agentPid, { startTicks: node.agentPidStart })
  );
}

/** The node's processes that still run, datastore first. */
export function recordedPids(node: LabNode): number[] {
  return [datastoreRunning(node) ? node.pid : 0, agentRunning(node) ? node.agentPid! : 0].filter(
    (pid) => pid > 0,
  );
}

/** The start time to record beside a pid just spawned (undefined where there is no /proc). */
export function startTicksOf(pid: number): number | undefined {
  return processStartTicks(pid);
}
