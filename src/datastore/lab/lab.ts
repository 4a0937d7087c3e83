/**
 * The local HA lab: N real datastore processes on one machine, each with its own data folder and
 * its own loopback address (127.0.1.1, 127.0.1.2, ...) so a test can cut one node off from
 * another with a firewall rule on loopback. The lab's description lives in one file, lab.json.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AGENT_LIMITS } from '../../cluster/agent/limits.js';
import { adminRequest, recordMember, requestRemoval } from '../../cluster/agent/local-datastore.js';
import { ensureClusterCa, issueCertificate } from '../../cluster/pki.js';
import { assert } from '../../lib/assert.js';
import { MicroK8sError } from '../../lib/errors.js';
import { packageRoot } from '../../lib/paths.js';
import { isProcessAlive, waitProcessExit } from '../../lib/process.js';
import { DATASTORE_NODE_FLAGS } from '../../lib/runtime-flags.js';
import { editArgsFile, writeArgsFile } from '../../node/args-file.js';
import { writeFileAtomicSync } from '../../node/atomic-write.js';
import { readDatastoreArgs } from '../node/config.js';
import type { NodeStatusReport } from '../node/driver.js';
import type { MemberReport } from '../node/roles-agent.js';
import {
  applyLabArgs,
  initNode,
  type JoinFormedNode,
  joinThrough,
  labClientCertificate,
  type NodeHome,
  nodeHome,
  spawnAgent,
  waitAgentListening,
} from './join-formation.js';

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
  /** Left out by a quorum-loss recovery: its peers refuse it until it is re-joined. */
  lost?: boolean;
  /** Removed by an operator (lab remove): its peers refuse it until it is re-joined. */
  removed?: boolean;
  /** A node formed through add-node/join: its MICROK8S_HOME and its cluster agent. */
  home?: string;
  agentPort?: number;
  agentPid?: number;
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

function specPath(dir: string): string {
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

function writeLab(spec: LabSpec): void {
  writeFileAtomicSync(specPath(spec.dir), `${JSON.stringify(spec, null, 2)}\n`);
}

function addressOf(base: string, offset: number, anyIPv4 = false): string {
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

/** Ask a node for its status over its admin socket; undefined if it does not answer in time. */
export async function nodeReport(node: LabNode): Promise<NodeStatusReport | undefined> {
  // Down, starting or stopping (no socket, or no answer): the caller reports it as not answering.
  return adminRequest(node.dataDir, 'GET', '/status', LAB_LIMITS.statusTimeoutMs).then(
    (body) => body as NodeStatusReport,
    () => undefined,
  );
}

function spawnNode(node: LabNode): number {
  const out = openSync(node.logFile, 'a');
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

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export async function labUp(options: LabUpOptions): Promise<LabNodeStatus[]> {
  const n = options.nodes;
  if (!(Number.isInteger(n) && n >= 1 && n <= LAB_LIMITS.maxNodes)) {
    throw new MicroK8sError('MK_INVALID_ARGUMENT', `--nodes must be 1 to ${LAB_LIMITS.maxNodes}, got ${n}`);
  }
  const dir = options.dir;
  if (existsSync(specPath(dir))) {
    const existing = readLab(dir);
    const running = (node: LabNode) =>
      isProcessAlive(node.pid) || (node.agentPid !== undefined && isProcessAlive(node.agentPid));
    if (existing.nodes.some(running)) {
      throw new MicroK8sError(
        'MK_INVALID_ARGUMENT',
        `a lab is already running in ${dir}: \`microk8s lab down\` first`,
      );
    }
    // A joined lab that was stopped, not purged: its machines are set up already; start them.
    if (existing.formation === 'join') {
      if (existing.nodes.length !== n) {
        throw new MicroK8sError(
          'MK_INVALID_ARGUMENT',
          `the stopped lab in ${dir} has ${existing.nodes.length} nodes: \`microk8s lab down --purge\` first for ${n}`,
        );
      }
      const names = existing.nodes.filter((node) => !node.removed && !node.lost).map((node) => node.name);
      await labStartMany(dir, names);
      await waitReady(readLab(dir), options.onProgress);
      return labStatus(dir);
    }
  }
  mkdirSync(dir, { recursive: true });
  const base = options.baseAddress ?? '127.0.1.1';
  const peerPort = options.peerPort ?? 2380;
  const clientPort = options.clientPort ?? 2379;
  const clusterId = options.clusterId ?? 'microk8s-lab';
  const formation = options.formation ?? (options.launcher ? 'seed' : 'join');
  if (formation === 'join') {
    if (options.launcher) {
      throw new MicroK8sError('MK_INVALID_ARGUMENT', 'a lab in network namespaces is seeded, not joined');
    }
    return labUpByJoin(options, { base, peerPort, clientPort });
  }
  const certs = join(dir, 'certs');
  const ca = await ensureClusterCa(certs);
  // Three voters (the planner's default target), then up to three standbys, the rest spares.
  const voters = Math.min(n, 3);
  const standbys = options.bootstrapStandbys ?? 3;
  const bootstrap = Array.from(
    { length: n },
    (_, i) => `${i + 1}=${i < voters ? 'voter' : i < voters + standbys ? 'standby' : 'spare'}`,
  ).join(',');
  const anyIPv4 = options.launcher !== undefined;
  const domainOf = (i: number) => options.failureDomains?.[i] ?? `zone-${(i % 3) + 1}`;
  const weightOf = (i: number) => options.weights?.[i] ?? 0;
  const nodes: LabNode[] = [];
  for (let i = 0; i < n; i++) {
    const id = i + 1;
    const name = `node${id}`;
    const address = addressOf(base, i, anyIPv4);
    const dataDir = join(dir, name);
    mkdirSync(dataDir, { recursive: true });
    const cert = await issueCertificate(ca, join(certs, name), 'peer', {
      commonName: `node-${id}`,
      ips: [address],
      dnsNames: [`node-${id}.peer.microk8s`],
      usage: 'peer',
    });
    nodes.push({
      id,
      name,
      address,
      peerPort,
      clientPort,
      dataDir,
      argsFile: join(dataDir, 'args'),
      logFile: join(dataDir, 'datastore.log'),
      ...(options.launcher ? { launcher: [...options.launcher(name, i)] } : {}),
      pid: 0,
    });
    const peers = Array.from(
      { length: n },
      (_, j) =>
        `--peer=${j + 1}=${addressOf(base, j, anyIPv4)}:${peerPort},${anyIPv4 ? 'https' : 'http'}://${addressOf(base, j, anyIPv4)}:${clientPort},${domainOf(j)},${weightOf(j)}`,
    );
    const args = [
      `--id=${id}`,
      `--name=${name}`,
      `--cluster-id=${clusterId}`,
      `--data-dir=${dataDir}`,
      `--peer-listen=${address}:${peerPort}`,
      anyIPv4 ? `--client-tls-listen=${address}:${clientPort}` : `--client-listen=${address}:${clientPort}`,
      `--client-unix=${join(dataDir, 'etcd.sock')}`,
      `--bootstrap=${bootstrap}`,
      `--ca-cert=${ca.certPath}`,
      `--cert=${cert.certPath}`,
      `--key=${cert.keyPath}`,
      `--failure-domain=${domainOf(i)}`,
      `--weight=${weightOf(i)}`,
      ...peers,
      ...(options.extraArgs ?? []),
    ];
    await writeArgsFile(
      nodes[i]!.argsFile,
      `# datastore args of ${name} (one flag per line)\n${args.join('\n')}\n`,
    );
  }
  let clientTls: LabSpec['clientTls'];
  if (anyIPv4) {
    const client = await issueCertificate(ca, join(certs, 'client'), 'client', {
      commonName: 'lab-client',
      usage: 'client',
    });
    clientTls = { ca: ca.certPath, cert: client.certPath, key: client.keyPath };
  }
  const spec: LabSpec = { clusterId, dir, nodes, formation, ...(clientTls ? { clientTls } : {}) };
  for (const node of nodes) node.pid = spawnNode(node);
  writeLab(spec);
  await waitReady(spec, options.onProgress);
  return labStatus(dir);
}

function labNodeOf(
  node: JoinFormedNode,
  home: NodeHome,
  ports: { peerPort: number; clientPort: number; agentPort: number },
): LabNode {
  return {
    id: node.id,
    name: node.name,
    address: node.address,
    peerPort: ports.peerPort,
    clientPort: ports.clientPort,
    dataDir: home.dataDir,
    argsFile: home.argsFile,
    logFile: home.logFile,
    pid: 0,
    home: home.home,
    agentPort: ports.agentPort,
    agentPid: 0,
    agentLogFile: home.agentLogFile,
  };
}

/** Start a join-formed node's two processes: its datastore and its cluster agent. */
function startJoinedNode(node: LabNode): void {
  mkdirSync(dirname(node.logFile), { recursive: true });
  node.pid = spawnNode(node);
  node.agentPid = spawnAgent(nodeHome(dirname(node.home!), node.name));
}

function waitAgent(node: LabNode): Promise<void> {
  return waitAgentListening(
    node.address,
    node.agentPort!,
    () => isProcessAlive(node.agentPid!),
    node.agentLogFile!,
  );
}

/**
 * The lab as users build a cluster (see join-formation.ts): every node set up alone, node 1
 * started, then each other node joins through node 1's agent, one after the other so that node
 * ids follow node names, and starts at once; the planner promotes the joiners.
 */
async function labUpByJoin(
  options: LabUpOptions,
  at: { base: string; peerPort: number; clientPort: number },
): Promise<LabNodeStatus[]> {
  const dir = options.dir;
  const ports = {
    peerPort: at.peerPort,
    clientPort: at.clientPort,
    agentPort: options.agentPort ?? AGENT_LIMITS.defaultPort,
  };
  const planned: JoinFormedNode[] = Array.from({ length: options.nodes }, (_, i) => ({
    id: i + 1,
    name: `node${i + 1}`,
    address: addressOf(at.base, i),
    failureDomain: options.failureDomains?.[i] ?? `zone-${(i % 3) + 1}`,
    weight: options.weights?.[i] ?? 0,
  }));
  const progress = options.onProgress ?? (() => {});
  progress(`setting up ${planned.length} node(s) (certificates, one-node datastores)`);
  const homes = await Promise.all(planned.map((node) => initNode(dir, node, ports)));
  const nodes = planned.map((node, i) => labNodeOf(node, homes[i]!, ports));
  const spec: LabSpec = {
    clusterId: '',
    dir,
    nodes,
    formation: 'join',
    clientTls: await labClientCertificate(dir, homes[0]!),
  };
  await applyLabArgs(homes[0]!, planned[0]!, options.extraArgs ?? []);
  startJoinedNode(nodes[0]!);
  writeLab(spec);
  await Promise.all([waitAnswering(nodes[0]!), waitAgent(nodes[0]!)]);
  for (let i = 1; i < planned.length; i++) {
    progress(`${planned[i]!.name}: add-node on node1, join`);
    const id = await joinThrough(homes[0]!, homes[i]!, planned[i]!, progress);
    assert(id === planned[i]!.id, `${planned[i]!.name} joined as node ${id}`);
    await applyLabArgs(homes[i]!, planned[i]!, options.extraArgs ?? []);
    startJoinedNode(nodes[i]!);
    writeLab(spec);
  }
  await Promise.all(nodes.map((node) => waitAgent(node)));
  const clusterId = readDatastoreArgs(nodes[0]!.argsFile).get('cluster-id')?.[0] ?? '';
  const formed: LabSpec = { ...spec, clusterId };
  writeLab(formed);
  await waitReady(formed, progress);
  await waitRoles(formed, progress);
  return labStatus(dir);
}

/** The roles the planner gives a cluster of n members: 3 voters, then 3 standbys, then spares. */
function plannedRoles(n: number): { voters: number; standbys: number; spares: number } {
  const voters = Math.min(n, 3);
  const standbys = Math.min(n - voters, 3);
  return { voters, standbys, spares: n - voters - standbys };
}

/** Wait (bounded) until the leader reports every member and the planner's roles. */
async function waitRoles(spec: LabSpec, onProgress: (line: string) => void): Promise<void> {
  const want = plannedRoles(spec.nodes.length);
  const deadline = Date.now() + LAB_LIMITS.readyTimeoutMs;
  while (Date.now() < deadline) {
    const reports = await Promise.all(spec.nodes.map((n) => nodeReport(n)));
    const leader = reports.find((r) => r?.state === 'leader');
    const count = (role: string) => leader?.members.filter((m) => m.role === role).length ?? 0;
    const got = { voters: count('voter'), standbys: count('standby'), spares: count('spare') };
    onProgress(`roles: ${got.voters} voter(s), ${got.standbys} standby(s), ${got.spares} spare(s)`);
    if (got.voters === want.voters && got.standbys === want.standbys && got.spares === want.spares) return;
    await sleep(LAB_LIMITS.pollMs);
  }
  throw new MicroK8sError(
    'MK_TIMEOUT',
    `the lab's roles did not settle within ${LAB_LIMITS.readyTimeoutMs / 1000} s`,
  );
}

/** Wait until every node answers and they agree on one leader. */
async function waitReady(spec: LabSpec, onProgress?: (line: string) => void): Promise<void> {
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
    const dead = spec.nodes.filter((n) => !isProcessAlive(n.pid));
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
      const running = isProcessAlive(node.pid);
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

function findNode(spec: LabSpec, name: string): LabNode {
  const node = spec.nodes.find((n) => n.name === name || String(n.id) === name);
  if (!node) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `no node '${name}' in the lab; nodes: ${spec.nodes.map((n) => n.name).join(', ')}`,
    );
  }
  return node;
}

/** SIGTERM (clean stop with handover) or SIGKILL one node. */
export async function labSignal(dir: string, name: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<LabNode> {
  const spec = readLab(dir);
  const node = findNode(spec, name);
  if (!isProcessAlive(node.pid)) throw new MicroK8sError('MK_NOT_RUNNING', `${node.name} is not running`);
  // A node is a machine: its cluster agent goes down with its datastore.
  const agent = node.agentPid !== undefined && isProcessAlive(node.agentPid) ? node.agentPid : undefined;
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
async function labStartMany(dir: string, names: readonly string[]): Promise<LabNode[]> {
  const spec = readLab(dir);
  const nodes = names.map((name) => findNode(spec, name));
  for (const node of nodes) {
    if (isProcessAlive(node.pid))
      throw new MicroK8sError('MK_INVALID_ARGUMENT', `${node.name} is already running (pid ${node.pid})`);
  }
  for (const node of nodes) {
    if (node.home === undefined) node.pid = spawnNode(node);
    else startJoinedNode(node);
  }
  writeLab(spec);
  for (const node of nodes) await waitAnswering(node);
  await Promise.all(nodes.filter((node) => node.home !== undefined).map((node) => waitAgent(node)));
  return nodes;
}

async function waitAnswering(node: LabNode): Promise<void> {
  const deadline = Date.now() + LAB_LIMITS.readyTimeoutMs;
  while (Date.now() < deadline) {
    // Ready once it answers and knows a leader (it may still be catching up); a lost node never
    // will (its peers refuse it), so it is ready once it answers.
    const report = await nodeReport(node);
    if (report && (report.leader !== 0 || node.lost || node.removed)) return;
    if (!isProcessAlive(node.pid))
      throw new MicroK8sError('MK_NOT_RUNNING', `${node.name} exited; see ${node.logFile}`);
    await sleep(LAB_LIMITS.pollMs);
  }
  throw new MicroK8sError(
    'MK_TIMEOUT',
    `${node.name} did not answer within ${LAB_LIMITS.readyTimeoutMs / 1000} s`,
  );
}

/**
 * Stop every node at once (SIGINT: no handover, there is nobody left to hand over to; SIGKILL if
 * one hangs); with purge, delete the lab folder.
 */
export async function labDown(dir: string, options: { purge?: boolean } = {}): Promise<number> {
  const spec = readLab(dir);
  const pids = spec.nodes.flatMap((node) => [node.pid, node.agentPid ?? 0]).filter((pid) => pid > 0);
  const running = pids.filter((pid) => isProcessAlive(pid));
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

/** Change a node's failure domain and weight at run time (replicated to every member). */
export async function labSetPlacement(
  dir: string,
  name: string,
  placement: { failureDomain?: string; weight?: number },
): Promise<{ failureDomain: string; weight: number }> {
  const node = findNode(readLab(dir), name);
  const query = new URLSearchParams();
  if (placement.failureDomain !== undefined) query.set('failure-domain', placement.failureDomain);
  if (placement.weight !== undefined) query.set('weight', String(placement.weight));
  try {
    return (await adminRequest(node.dataDir, 'POST', `/placement?${query}`)) as {
      failureDomain: string;
      weight: number;
    };
  } catch (error) {
    // A placement the node refuses is the caller's bad argument.
    if (error instanceof MicroK8sError && error.code === 'MK_INVALID_CONFIG')
      throw new MicroK8sError('MK_INVALID_ARGUMENT', error.message);
    throw error;
  }
}

/**
 * Quorum-loss recovery of the lab: the running nodes are the survivors, the stopped ones are lost
 * for good. Without force, only the plan's outline; with force, the survivors are stopped, recovered
 * (see datastore/recovery) and started again as a working cluster.
 */
export async function labRecover(
  dir: string,
  options: { force: boolean },
): Promise<{ survivors: string[]; lost: string[]; plan?: string[] }> {
  const spec = readLab(dir);
  const survivors = spec.nodes.filter((n) => isProcessAlive(n.pid));
  const lost = spec.nodes.filter((n) => !isProcessAlive(n.pid));
  if (survivors.length === 0)
    throw new MicroK8sError('MK_NOT_RUNNING', 'no lab node is running: nothing survived');
  const names = { survivors: survivors.map((n) => n.name), lost: lost.map((n) => n.name) };
  if (!options.force) return names;
  const { describePlan, executeRecovery, planRecovery, survivorFromArgs } = await import(
    '../recovery/recover.js'
  );
  for (const node of survivors) process.kill(node.pid, 'SIGINT');
  for (const node of survivors) {
    if (!(await waitProcessExit(node.pid, LAB_LIMITS.stopTimeoutMs))) {
      throw new MicroK8sError('MK_TIMEOUT', `${node.name} (pid ${node.pid}) did not stop`);
    }
  }
  const plan = await planRecovery(survivors.map((n) => survivorFromArgs(n.argsFile)));
  await executeRecovery(plan);
  for (const node of lost) node.lost = true;
  writeLab(spec);
  await labStartMany(
    dir,
    survivors.map((n) => n.name),
  );
  return { ...names, plan: describePlan(plan) };
}

/**
 * Add a node to a running lab (loopback labs): a new data folder, certificate and args file
 * with no bootstrap, recorded in the replicated member table through a running member's admin
 * socket; the leader adds it as a spare and the roles planner promotes it as needed. The other
 * nodes learn its address from the member table, not from their args files.
 */
export async function labAddNode(
  dir: string,
  options: { failureDomain?: string; weight?: number } = {},
): Promise<LabNode> {
  const spec = readLab(dir);
  if (spec.nodes.length >= LAB_LIMITS.maxNodes) {
    throw new MicroK8sError('MK_INVALID_ARGUMENT', `a lab has at most ${LAB_LIMITS.maxNodes} nodes`);
  }
  if (spec.formation === 'join') return labJoinNode(spec, options);
  if (spec.clientTls) throw new MicroK8sError('MK_INVALID_ARGUMENT', 'adding nodes is for loopback labs');
  const via = spec.nodes.find((n) => isProcessAlive(n.pid));
  if (!via) throw new MicroK8sError('MK_NOT_RUNNING', 'no lab node is running');
  const first = spec.nodes[0]!;
  const id = Math.max(...spec.nodes.map((n) => n.id)) + 1;
  const name = `node${id}`;
  const address = addressOf(first.address, id - first.id);
  const dataDir = join(dir, name);
  mkdirSync(dataDir, { recursive: true });
  const certs = join(dir, 'certs');
  const ca = await ensureClusterCa(certs);
  const cert = await issueCertificate(ca, join(certs, name), 'peer', {
    commonName: `node-${id}`,
    ips: [address],
    dnsNames: [`node-${id}.peer.microk8s`],
    usage: 'peer',
  });
  const domain = options.failureDomain ?? `zone-${((id - 1) % 3) + 1}`;
  const weight = options.weight ?? 0;
  const node: LabNode = {
    id,
    name,
    address,
    peerPort: first.peerPort,
    clientPort: first.clientPort,
    dataDir,
    argsFile: join(dataDir, 'args'),
    logFile: join(dataDir, 'datastore.log'),
    pid: 0,
  };
  const args = [
    `--id=${id}`,
    `--name=${name}`,
    `--cluster-id=${spec.clusterId}`,
    `--data-dir=${dataDir}`,
    `--peer-listen=${address}:${node.peerPort}`,
    `--client-listen=${address}:${node.clientPort}`,
    `--client-unix=${join(dataDir, 'etcd.sock')}`,
    `--ca-cert=${ca.certPath}`,
    `--cert=${cert.certPath}`,
    `--key=${cert.keyPath}`,
    `--failure-domain=${domain}`,
    `--weight=${weight}`,
    // Enough to reach the cluster; from then on the member table keeps the addresses.
    ...spec.nodes.map((n) => `--peer=${n.id}=${n.address}:${n.peerPort},http://${n.address}:${n.clientPort}`),
  ];
  // Start from the membership the others' logs start from (see NodeStatusReport.bootstrap).
  const base = (await nodeReport(via))?.bootstrap;
  if (base) args.push(`--bootstrap=${base}`);
  await writeArgsFile(node.argsFile, `# datastore args of ${name} (one flag per line)\n${args.join('\n')}\n`);
  await recordMember(via.dataDir, {
    id,
    peerAddress: `${address}:${node.peerPort}`,
    clientUrl: `http://${address}:${node.clientPort}`,
    failureDomain: domain,
    weight,
  });
  spec.nodes.push(node);
  writeLab(spec);
  await labStart(dir, name);
  return readLab(dir).nodes.find((n) => n.id === id)!;
}

/** labAddNode of a join-formed lab: a new machine set up alone, then add-node on a running node and join. */
async function labJoinNode(
  spec: LabSpec,
  options: { failureDomain?: string; weight?: number },
): Promise<LabNode> {
  const via = spec.nodes.find(
    (n) => n.agentPid !== undefined && isProcessAlive(n.agentPid) && isProcessAlive(n.pid),
  );
  if (!via) throw new MicroK8sError('MK_NOT_RUNNING', 'no lab node runs its datastore and agent');
  const first = spec.nodes[0]!;
  const next = Math.max(...spec.nodes.map((n) => n.id)) + 1;
  const planned: JoinFormedNode = {
    id: next,
    name: `node${next}`,
    address: addressOf(first.address, next - first.id),
    failureDomain: options.failureDomain ?? `zone-${((next - 1) % 3) + 1}`,
    weight: options.weight ?? 0,
  };
  const ports = { peerPort: first.peerPort, clientPort: first.clientPort, agentPort: first.agentPort! };
  const home = await initNode(spec.dir, planned, ports);
  // The agent hands out the id (the member table's highest + 1); the lab's name stays nodeN.
  const id = await joinThrough(nodeHome(spec.dir, via.name), home, planned);
  applyLabArgs(home, planned, []);
  const node = labNodeOf({ ...planned, id }, home, ports);
  spec.nodes.push(node);
  startJoinedNode(node);
  writeLab(spec);
  await Promise.all([waitAnswering(node), waitAgent(node)]);
  return node;
}

/**
 * Remove a member, as an operator: refused while the leader hears from it unless forced; a voter
 * is replaced and demoted before it goes (the leader's roles agent carries it out). Waits
 * (bounded) until the member is gone from the leader's membership.
 */
export async function labRemoveNode(
  dir: string,
  name: string,
  options: { force: boolean },
): Promise<LabNode> {
  const spec = readLab(dir);
  const node = findNode(spec, name);
  const leader = (await labStatus(dir)).find((n) => n.state === 'leader');
  if (!leader)
    throw new MicroK8sError('MK_NO_LEADER', 'no leader answers: a removal needs a working cluster');
  const member = leader.members.find((m) => m.id === node.id);
  if (!member) throw new MicroK8sError('MK_INVALID_ARGUMENT', `${node.name} is not a member`);
  if (member.online && !options.force) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `${node.name} is alive and a member: stop it first (or leave from it), or remove it with --force`,
    );
  }
  if (node.id === leader.id) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `${node.name} leads: stop it cleanly first (it hands over)`,
    );
  }
  const via = spec.nodes.find((n) => n.name === leader.name)!;
  await requestRemoval(via.dataDir, node.id, options.force);
  const deadline = Date.now() + LAB_LIMITS.readyTimeoutMs;
  while (Date.now() < deadline) {
    const now = (await labStatus(dir)).find((n) => n.state === 'leader');
    if (now && !now.members.some((m) => m.id === node.id)) {
      const latest = readLab(dir);
      const entry = latest.nodes.find((n) => n.id === node.id);
      if (entry) entry.removed = true;
      writeLab(latest);
      return node;
    }
    await sleep(LAB_LIMITS.pollMs);
  }
  throw new MicroK8sError(
    'MK_TIMEOUT',
    `${node.name} was not removed within ${LAB_LIMITS.readyTimeoutMs / 1000} s`,
  );
}

/**
 * A joined node moves the way a machine whose IP changed does (src/cluster/address-change): its
 * certificates are re-issued for the new address and its listen flags and agent --bind are
 * rewritten, here with the operator naming the address (loopback aliases never disappear).
 */
async function moveJoinedNode(spec: LabSpec, node: LabNode, newAddress: string): Promise<LabNode> {
  if (isProcessAlive(node.pid)) await labSignal(spec.dir, node.name, 'SIGTERM');
  const { refreshAddress } = await import('../../cluster/address-change/refresh.js');
  const result = await refreshAddress(nodeHome(spec.dir, node.name).ctx, {
    apply: true,
    address: newAddress,
  });
  if (!result.applied) {
    throw new MicroK8sError('MK_INVALID_ARGUMENT', `${node.name} was not moved: ${result.decision.kind}`);
  }
  spec.nodes[spec.nodes.indexOf(node)] = { ...node, address: newAddress };
  writeLab(spec);
  return labStart(spec.dir, node.name);
}

/**
 * Give a node a new address, as when a machine's IP changes: stop it cleanly, rewrite its listen
 * addresses and its certificate's IP, start it again. Nobody else is told: the node announces
 * its new address in its peer hello and then in the member table, and every member follows.
 */
export async function labMoveNode(dir: string, name: string, newAddress: string): Promise<LabNode> {
  const spec = readLab(dir);
  const node = findNode(spec, name);
  addressOf(newAddress, 0);
  if (spec.nodes.some((n) => n.address === newAddress)) {
    throw new MicroK8sError('MK_INVALID_ARGUMENT', `${newAddress} is already a lab node's address`);
  }
  if (node.home !== undefined) return moveJoinedNode(spec, node, newAddress);
  if (isProcessAlive(node.pid)) await labSignal(dir, node.name, 'SIGTERM');
  // Its certificate is issued again for the new address (identity stays the node name).
  const certs = join(dir, 'certs');
  await issueCertificate(await ensureClusterCa(certs), join(certs, node.name), 'peer', {
    commonName: `node-${node.id}`,
    ips: [newAddress],
    dnsNames: [`node-${node.id}.peer.microk8s`],
    usage: 'peer',
  });
  await editArgsFile(node.argsFile, {
    set: {
      'peer-listen': `${newAddress}:${node.peerPort}`,
      'client-listen': `${newAddress}:${node.clientPort}`,
    },
  });
  const moved: LabNode = { ...node, address: newAddress };
  spec.nodes[spec.nodes.indexOf(node)] = moved;
  writeLab(spec);
  return labStart(dir, name);
}
