/**
 * `microk8s lab up` (the Kubernetes formation, the default): N whole Kubernetes nodes on this machine, each in its own
 * network namespace (network.ts) with its own MICROK8S_HOME under the lab folder, formed as
 * users form a cluster: node 1 started alone, then `add-node` on it and `join` + `start` on each
 * of the others. Every node runs the datastore, the cluster agent, containerd and the Kubernetes
 * components under its supervisor. The lab is described by kube-lab.json, written before the
 * network exists, so `lab down` can clean up after a start that failed half-way.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentContext, datastoreDataDir } from '../../cluster/agent/context.js';
import { MicroK8sError } from '../../lib/errors.js';
import { packageRoot, resolvePaths } from '../../lib/paths.js';
import { resolveUpstreamPaths } from '../../lib/upstream-paths.js';
import { writeFileAtomicSync } from '../../node/atomic-write.js';
import { isRecordedProcessAlive } from '../../node/process-identity.js';
import { runningSupervisor } from '../../services/supervisor/state.js';
import { cleanupAfterStop } from '../../services/upstream/cleanup.js';
import { upstreamLayout } from '../../services/upstream/layout.js';
import { setNodePlacement } from '../moves.js';
import {
  addressOf,
  createLabNetwork,
  destroyLabNetwork,
  type LabNetworkSpec,
  launcherOf,
  namespaceOf,
  pidsIn,
} from './network.js';
import { cutOffNodes, healNetwork, partitionNetwork } from './partition.js';

export const KUBE_LAB_FILE = 'kube-lab.json';

export const KUBE_LAB_LIMITS = {
  maxNodes: 5,
  /** One CLI call inside a node (start waits for every service once). */
  commandTimeoutMs: 6 * 60_000,
  /** status --wait-ready of one node. */
  readyTimeoutS: 480,
} as const;

export interface KubeLabNode {
  readonly name: string;
  readonly role: 'control-plane' | 'worker';
  readonly index: number;
  readonly address: string;
  readonly home: string;
  readonly namespace: string;
}

export interface KubeLabSpec {
  readonly formation: 'kube';
  readonly dir: string;
  readonly network: LabNetworkSpec;
  readonly nodes: KubeLabNode[];
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function readKubeLab(dir: string): KubeLabSpec | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, KUBE_LAB_FILE), 'utf8')) as KubeLabSpec;
  } catch {
    return undefined;
  }
}

/** The microk8s CLI run inside a node: its namespace, its MICROK8S_HOME. */
export function nodeCli(
  spec: KubeLabSpec,
  node: KubeLabNode,
  args: readonly string[],
  options: { inherit?: boolean; timeoutMs?: number } = {},
): Promise<CliResult> {
  const [command, ...prefix] = [...launcherOf(spec.network, node.index), process.execPath];
  return new Promise((resolveRun, rejectRun) => {
    const child = spawn(command!, [...prefix, join(packageRoot(), 'bin', 'run.js'), ...args], {
      env: { ...process.env, MICROK8S_HOME: node.home },
      stdio: options.inherit ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    const timer = setTimeout(
      () => child.kill('SIGKILL'),
      options.timeoutMs ?? KUBE_LAB_LIMITS.commandTimeoutMs,
    );
    child.once('error', (error) => {
      clearTimeout(timer);
      rejectRun(
        new MicroK8sError('MK_LAB_NETWORK', `cannot run a command in ${node.name}: ${error.message}`),
      );
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

async function ok(spec: KubeLabSpec, node: KubeLabNode, args: readonly string[]): Promise<string> {
  const r = await nodeCli(spec, node, args);
  if (r.code !== 0) {
    throw new MicroK8sError(
      'MK_SERVICE_RESTART',
      `${node.name}: microk8s ${args.join(' ')} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`,
    );
  }
  return r.stdout;
}

export interface KubeLabUpOptions {
  readonly dir: string;
  readonly nodes: number;
  /** Worker-only nodes joined with --worker (their components use their API-server proxy). */
  readonly workers?: number;
  /** The first three octets of the lab's /24 (default 10.201.1). */
  readonly subnet?: string;
  /**
   * Failure domain of each control-plane node, in order (default zone-1, zone-2, zone-3, zone-1,
   * ...: the roles planner spreads the three voters over three domains, as the seed lab does).
   */
  readonly failureDomains?: readonly string[];
  readonly onProgress?: (line: string) => void;
}

export async function kubeLabUp(options: KubeLabUpOptions): Promise<KubeLabSpec> {
  const workers = options.workers ?? 0;
  if (!(options.nodes >= 1 && workers >= 0 && options.nodes + workers <= KUBE_LAB_LIMITS.maxNodes)) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `--nodes and --workers: 1 to ${KUBE_LAB_LIMITS.maxNodes} Kubernetes nodes in all`,
    );
  }
  if (readKubeLab(options.dir) || existsSync(join(options.dir, 'lab.json'))) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `a lab exists in ${options.dir}: run \`microk8s lab down --purge\` first`,
    );
  }
  const network: LabNetworkSpec = {
    tag: `mk${randomBytes(2).toString('hex')}`,
    subnet: options.subnet ?? '10.201.1',
    size: options.nodes + workers,
    controlPlane: options.nodes,
    hostnames: Array.from({ length: options.nodes + workers }, (_, index) =>
      index < options.nodes ? `node${index + 1}` : `worker${index - options.nodes + 1}`,
    ),
  };
  const nodes: KubeLabNode[] = Array.from({ length: options.nodes + workers }, (_, index) => {
    const name = network.hostnames![index]!;
    return {
      name,
      role: index < options.nodes ? 'control-plane' : 'worker',
      index,
      address: addressOf(network, index),
      home: join(options.dir, name),
      namespace: namespaceOf(network, index),
    };
  });
  const spec: KubeLabSpec = { formation: 'kube', dir: options.dir, network, nodes };
  mkdirSync(options.dir, { recursive: true });
  writeFileAtomicSync(join(options.dir, KUBE_LAB_FILE), `${JSON.stringify(spec, null, 2)}\n`);
  const progress = options.onProgress ?? (() => {});
  createLabNetwork(network);
  const [first, ...others] = nodes;
  progress(`${first!.name}: starting (set up, then every service)`);
  await ok(spec, first!, ['start', '--address', first!.address, '--hostname', first!.name]);
  await ok(spec, first!, ['status', '--wait-ready', '--timeout', String(KUBE_LAB_LIMITS.readyTimeoutS)]);
  for (const node of others) {
    const worker = node.role === 'worker';
    progress(`${node.name}: add-node on ${first!.name}, join${worker ? ' --worker' : ''}, start`);
    const addNode = ['add-node', '--format', 'json', ...(worker ? ['--worker'] : [])];
    const token = JSON.parse(await ok(spec, first!, addNode)) as {
      joinStrings: string[];
    };
    const joinString =
      token.joinStrings.find((s) => s.startsWith(`${first!.address}:`)) ?? token.joinStrings[0];
    if (!joinString) throw new MicroK8sError('MK_INTERNAL', `${first!.name} printed no join string`);
    const flags = [...(worker ? ['--worker'] : []), '--address', node.address, '--hostname', node.name];
    await ok(spec, node, ['join', joinString, ...flags]);
    await ok(spec, node, ['start']);
  }
  for (const node of nodes) {
    progress(
      `${node.name}: waiting until ${node.role === 'worker' ? 'its API-server proxy is ready' : 'Kubernetes serves'}`,
    );
    await ok(spec, node, ['status', '--wait-ready', '--timeout', String(KUBE_LAB_LIMITS.readyTimeoutS)]);
  }
  // A worker's `status --wait-ready` waits for its API-server proxy only; the lab is up when
  // Kubernetes has every node Ready (pod networking included: flanneld's subnet, the CNI file).
  progress('waiting until Kubernetes has every node Ready');
  const deadline = Date.now() + KUBE_LAB_LIMITS.readyTimeoutS * 1000;
  for (;;) {
    const view = await kubernetesView(spec);
    const waiting = nodes.filter((n) => !view.get(n.name)?.startsWith('Ready'));
    if (waiting.length === 0) break;
    if (Date.now() > deadline) {
      throw new MicroK8sError(
        'MK_NOT_READY',
        `not Ready within ${KUBE_LAB_LIMITS.readyTimeoutS} s: ${waiting.map((n) => `${n.name} (${view.get(n.name) ?? 'not registered'})`).join(', ')}`,
      );
    }
    await sleep(1_000);
  }
  const members = nodes.filter((n) => n.role === 'control-plane');
  if (members.length > 1) {
    const domains = members.map((_, i) => options.failureDomains?.[i] ?? `zone-${(i % 3) + 1}`);
    progress(`failure domains: ${members.map((n, i) => `${n.name} ${domains[i]}`).join(', ')}`);
    for (const [i, node] of members.entries())
      await kubeLabPlacement(options.dir, node.name, { failureDomain: domains[i] });
  }
  return spec;
}

/** The data folder of a control-plane node's datastore (its admin socket is there). */
export function datastoreDirOf(node: KubeLabNode): string {
  if (node.role === 'worker')
    throw new MicroK8sError('MK_INVALID_ARGUMENT', `${node.name} is a worker: it has no datastore`);
  return datastoreDataDir(agentContext(resolvePaths({ MICROK8S_HOME: node.home })));
}

/** A control-plane node's failure domain or weight, changed at run time (replicated). */
export function kubeLabPlacement(
  dir: string,
  name: string,
  placement: { failureDomain?: string; weight?: number },
): Promise<{ failureDomain: string; weight: number }> {
  return setNodePlacement(datastoreDirOf(findNode(dir, name).node), placement);
}

/** Cuts the named nodes off from the others (see partition.ts); the names of each side. */
export function kubeLabPartition(dir: string, names: readonly string[]): { cut: string[]; rest: string[] } {
  const spec = readKubeLab(dir);
  if (!spec) throw new MicroK8sError('MK_NOT_RUNNING', `no Kubernetes lab in ${dir}`);
  const cut = names.map((name) => findNode(dir, name).node.index);
  partitionNetwork(spec.network, cut);
  return {
    cut: spec.nodes.filter((n) => cut.includes(n.index)).map((n) => n.name),
    rest: spec.nodes.filter((n) => !cut.includes(n.index)).map((n) => n.name),
  };
}

/** Ends a partition; the names of the nodes that were cut off. */
export function kubeLabHeal(dir: string): string[] {
  const spec = readKubeLab(dir);
  if (!spec) throw new MicroK8sError('MK_NOT_RUNNING', `no Kubernetes lab in ${dir}`);
  return healNetwork(spec.network).map((i) => spec.nodes[i]!.name);
}

/** Stops every node, removes the network; with purge, the lab folder too. */
export async function kubeLabDown(dir: string, purge: boolean): Promise<number> {
  const spec = readKubeLab(dir);
  if (!spec) return 0;
  let stopped = 0;
  for (const node of [...spec.nodes].reverse()) {
    if (runningSupervisor(resolvePaths({ MICROK8S_HOME: node.home }).run)) stopped++;
    await nodeCli(spec, node, ['stop']).catch(() => undefined);
  }
  destroyLabNetwork(spec.network);
  rmSync(join(dir, KUBE_LAB_FILE), { force: true });
  if (purge) rmSync(dir, { recursive: true, force: true });
  return stopped;
}

/**
 * The first node whose supervisor runs, on the lab's side of a partition if it can be: where
 * `lab kubectl` goes.
 */
export function liveNode(spec: KubeLabSpec): KubeLabNode {
  const [node] = liveNodes(spec);
  if (!node) throw new MicroK8sError('MK_NOT_RUNNING', 'no node of the Kubernetes lab is running');
  return node;
}

/**
 * `lab kubectl [--dir DIR] ARGS...`: the lab in DIR (default <common>/lab, as every lab command
 * has it); everything after is kubectl's.
 */
export function labKubectlCommand(argv: readonly string[]): Promise<number> {
  const custom = argv[0] === '--dir' && argv[1] !== undefined;
  const dir = custom ? argv[1]! : join(resolvePaths().common, 'lab');
  return kubeLabKubectl(dir, argv.slice(custom ? 2 : 0));
}

/** kubectl through a live node, in the foreground; its exit code. */
export async function kubeLabKubectl(dir: string, args: readonly string[]): Promise<number> {
  const spec = readKubeLab(dir);
  if (!spec) throw new MicroK8sError('MK_NOT_RUNNING', `no Kubernetes lab in ${dir}: \`microk8s lab up\``);
  const node = liveNode(spec);
  const r = await nodeCli(spec, node, ['kubectl', ...args], { inherit: true });
  return r.code ?? 1;
}

export interface KubeLabNodeStatus {
  readonly name: string;
  readonly address: string;
  readonly running: boolean;
  readonly datastoreRole: string;
  readonly leader: boolean;
  readonly kubernetes: string;
  /** On the far side of a `lab partition`. */
  readonly cutOff: boolean;
}

interface NodeStatusJson {
  datastore?: { node?: { role?: string }; leader?: { self?: boolean } | null };
  kubernetes?: { node?: { ready?: boolean; version?: string } | null; apiServerReady?: boolean };
  highAvailability?: boolean;
}

interface NodeList {
  items: {
    metadata: { name: string };
    status: { conditions?: { type: string; status: string }[]; nodeInfo?: { kubeletVersion?: string } };
  }[];
}

/** The control-plane nodes whose supervisor runs, those on the lab's side of a partition first. */
function liveNodes(spec: KubeLabSpec): KubeLabNode[] {
  const cut = new Set(cutOffNodes(spec.network));
  // Control-plane nodes: a worker has no admin identity to run kubectl with.
  return [...spec.nodes]
    .sort((a, b) => Number(cut.has(a.index)) - Number(cut.has(b.index)))
    .filter((n) => n.role !== 'worker' && runningSupervisor(resolvePaths({ MICROK8S_HOME: n.home }).run));
}

/**
 * Each node as Kubernetes sees it (Ready, version), asked through the first live control-plane
 * node that answers (one may be cut off, or its API server starting).
 */
async function kubernetesView(spec: KubeLabSpec): Promise<Map<string, string>> {
  const view = new Map<string, string>();
  let r: CliResult | undefined;
  for (const node of liveNodes(spec)) {
    r = await nodeCli(spec, node, ['kubectl', 'get', 'nodes', '-o', 'json', '--request-timeout=10s'], {
      timeoutMs: 30_000,
    });
    if (r.code === 0) break;
  }
  if (r?.code !== 0) return view;
  try {
    for (const item of (JSON.parse(r.stdout) as NodeList).items) {
      const ready = item.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      view.set(
        item.metadata.name,
        `${ready ? 'Ready' : 'NotReady'} ${item.status.nodeInfo?.kubeletVersion ?? ''}`.trim(),
      );
    }
  } catch {
    // not JSON: the view stays empty
  }
  return view;
}

export async function kubeLabStatus(
  dir: string,
): Promise<{ nodes: KubeLabNodeStatus[]; highAvailability: boolean }> {
  const spec = readKubeLab(dir);
  if (!spec) throw new MicroK8sError('MK_NOT_RUNNING', `no Kubernetes lab in ${dir}`);
  let highAvailability = false;
  const nodes: KubeLabNodeStatus[] = [];
  const view = await kubernetesView(spec);
  const cut = new Set(cutOffNodes(spec.network));
  for (const node of spec.nodes) {
    const r = await nodeCli(spec, node, ['status', '--format', 'json'], { timeoutMs: 30_000 });
    let s: NodeStatusJson | undefined;
    try {
      s = r.code === 0 ? (JSON.parse(r.stdout) as NodeStatusJson) : undefined;
    } catch {
      s = undefined;
    }
    if (s?.highAvailability) highAvailability = true;
    nodes.push({
      name: node.name,
      address: node.address,
      running: s !== undefined,
      datastoreRole: node.role === 'worker' ? 'worker' : (s?.datastore?.node?.role ?? '-'),
      leader: s?.datastore?.leader?.self === true,
      kubernetes: view.get(node.name) ?? (s ? 'not registered' : 'down'),
      cutOff: cut.has(node.index),
    });
  }
  return { nodes, highAvailability };
}

/** A crash of a whole node: every process in its namespace, and its containers, SIGKILLed. */
export async function kubeLabKill(dir: string, name: string): Promise<KubeLabNode> {
  const { spec, node } = findNode(dir, name);
  await crashNode(spec.network, node.index, node.home);
  return node;
}

/**
 * Kills every process in node `index`'s namespace and removes its containers (their processes
 * live in namespaces of their own), and returns once they are dead: the next command must not
 * take the node for a live one.
 */
export async function crashNode(network: LabNetworkSpec, index: number, home: string): Promise<void> {
  const pids = pidsIn(network, index);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  const deadline = Date.now() + KILL_WAIT_MS;
  while (pids.some((pid) => isRecordedProcessAlive(pid)) && Date.now() < deadline) await sleep(50);
  await cleanupAfterStop(resolveUpstreamPaths(), upstreamLayout(resolvePaths({ MICROK8S_HOME: home })));
}

const KILL_WAIT_MS = 10_000;

/** `microk8s stop` or `start` inside one node. */
export async function kubeLabNodeCommand(
  dir: string,
  name: string,
  command: 'stop' | 'start',
): Promise<KubeLabNode> {
  const { spec, node } = findNode(dir, name);
  await ok(spec, node, [command]);
  return node;
}

function findNode(dir: string, name: string): { spec: KubeLabSpec; node: KubeLabNode } {
  const spec = readKubeLab(dir);
  if (!spec) throw new MicroK8sError('MK_NOT_RUNNING', `no Kubernetes lab in ${dir}`);
  const node = spec.nodes.find((n) => n.name === name);
  if (!node) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `no node ${name}; the nodes are ${spec.nodes.map((n) => n.name).join(', ')}`,
    );
  }
  return { spec, node };
}

export function formatKubeLabStatus(status: {
  nodes: readonly KubeLabNodeStatus[];
  highAvailability: boolean;
}): string {
  const rows = status.nodes.map(
    (n) =>
      `${n.name.padEnd(7)} ${n.address.padEnd(14)} ${(n.running ? 'running' : 'down').padEnd(8)} ${(n.datastoreRole + (n.leader ? ' (leader)' : '')).padEnd(18)} ${n.kubernetes}${n.cutOff ? '  [cut off]' : ''}`,
  );
  const cut = status.nodes.filter((n) => n.cutOff).map((n) => n.name);
  return [
    `high-availability: ${status.highAvailability ? 'yes' : 'no'}`,
    ...(cut.length > 0 ? [`partition: ${cut.join(', ')} cut off from the rest (\`lab heal\` ends it)`] : []),
    'node    address        state    datastore          kubernetes',
    ...rows,
  ].join('\n');
}

export function formatKubeLabUpHint(spec: KubeLabSpec): string {
  return [
    '',
    'Try:',
    '  npx microk8s lab kubectl get nodes -o wide',
    '  npx microk8s lab status',
    `  npx microk8s lab kubectl create deployment web --replicas=${spec.nodes.length * 2} --image=localhost/microk8s/busybox:1.35.0-4-deb12u1-b1 -- httpd -f -p 8080 -h /etc`,
    '  npx microk8s lab kubectl get pods -o wide',
    '  npx microk8s lab kill node1 && npx microk8s lab status   # a crash: the others keep serving',
    '  npx microk8s lab start node1',
    '  npx microk8s lab down --purge',
  ].join('\n');
}
