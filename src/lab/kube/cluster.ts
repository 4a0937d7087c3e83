/**
 * `microk8s lab up --formation kube`: N whole Kubernetes nodes on this machine, each in its own
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
import { MicroK8sError } from '../../lib/errors.js';
import { packageRoot, resolvePaths } from '../../lib/paths.js';
import { writeFileAtomicSync } from '../../node/atomic-write.js';
import { runningSupervisor } from '../../services/supervisor/state.js';
import {
  addressOf,
  createLabNetwork,
  destroyLabNetwork,
  type LabNetworkSpec,
  launcherOf,
  namespaceOf,
} from './network.js';

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
  /** The first three octets of the lab's /24 (default 10.201.1). */
  readonly subnet?: string;
  readonly onProgress?: (line: string) => void;
}

export async function kubeLabUp(options: KubeLabUpOptions): Promise<KubeLabSpec> {
  if (!(options.nodes >= 1 && options.nodes <= KUBE_LAB_LIMITS.maxNodes)) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `--nodes: 1 to ${KUBE_LAB_LIMITS.maxNodes} Kubernetes nodes`,
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
    size: options.nodes,
  };
  const nodes = Array.from({ length: options.nodes }, (_, index) => ({
    name: `node${index + 1}`,
    index,
    address: addressOf(network, index),
    home: join(options.dir, `node${index + 1}`),
    namespace: namespaceOf(network, index),
  }));
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
    progress(`${node.name}: add-node on ${first!.name}, join, start`);
    const token = JSON.parse(await ok(spec, first!, ['add-node', '--format', 'json'])) as {
      joinStrings: string[];
    };
    const joinString =
      token.joinStrings.find((s) => s.startsWith(`${first!.address}:`)) ?? token.joinStrings[0];
    if (!joinString) throw new MicroK8sError('MK_INTERNAL', `${first!.name} printed no join string`);
    await ok(spec, node, ['join', joinString, '--address', node.address, '--hostname', node.name]);
    await ok(spec, node, ['start']);
  }
  for (const node of nodes) {
    progress(`${node.name}: waiting until Kubernetes serves`);
    await ok(spec, node, ['status', '--wait-ready', '--timeout', String(KUBE_LAB_LIMITS.readyTimeoutS)]);
  }
  return spec;
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

/** The first node whose supervisor runs: where `lab kubectl` goes. */
export function liveNode(spec: KubeLabSpec): KubeLabNode {
  const node = spec.nodes.find((n) => runningSupervisor(resolvePaths({ MICROK8S_HOME: n.home }).run));
  if (!node) throw new MicroK8sError('MK_NOT_RUNNING', 'no node of the Kubernetes lab is running');
  return node;
}

/** kubectl through a live node, in the foreground; its exit code. */
export async function kubeLabKubectl(dir: string, args: readonly string[]): Promise<number> {
  const spec = readKubeLab(dir);
  if (!spec)
    throw new MicroK8sError(
      'MK_NOT_RUNNING',
      `no Kubernetes lab in ${dir}: \`microk8s lab up --formation kube\``,
    );
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
}

interface NodeStatusJson {
  datastore?: { node?: { role?: string }; leader?: { self?: boolean } | null };
  kubernetes?: { node?: { ready?: boolean; version?: string } | null; apiServerReady?: boolean };
  highAvailability?: boolean;
}

export async function kubeLabStatus(
  dir: string,
): Promise<{ nodes: KubeLabNodeStatus[]; highAvailability: boolean }> {
  const spec = readKubeLab(dir);
  if (!spec) throw new MicroK8sError('MK_NOT_RUNNING', `no Kubernetes lab in ${dir}`);
  let highAvailability = false;
  const nodes: KubeLabNodeStatus[] = [];
  for (const node of spec.nodes) {
    const r = await nodeCli(spec, node, ['status', '--format', 'json'], { timeoutMs: 30_000 });
    let s: NodeStatusJson | undefined;
    try {
      s = r.code === 0 ? (JSON.parse(r.stdout) as NodeStatusJson) : undefined;
    } catch {
      s = undefined;
    }
    if (s?.highAvailability) highAvailability = true;
    const k = s?.kubernetes;
    nodes.push({
      name: node.name,
      address: node.address,
      running: s !== undefined,
      datastoreRole: s?.datastore?.node?.role ?? '-',
      leader: s?.datastore?.leader?.self === true,
      kubernetes: !s
        ? 'down'
        : k?.node
          ? `${k.node.ready ? 'Ready' : 'NotReady'} ${k.node.version ?? ''}`.trim()
          : 'not registered',
    });
  }
  return { nodes, highAvailability };
}

export function formatKubeLabStatus(status: {
  nodes: KubeLabNodeStatus[];
  highAvailability: boolean;
}): string {
  const rows = status.nodes.map(
    (n) =>
      `${n.name.padEnd(7)} ${n.address.padEnd(14)} ${(n.running ? 'running' : 'down').padEnd(8)} ${(n.datastoreRole + (n.leader ? ' (leader)' : '')).padEnd(18)} ${n.kubernetes}`,
  );
  return [
    `high-availability: ${status.highAvailability ? 'yes' : 'no'}`,
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
    '  npx microk8s lab down --purge',
  ].join('\n');
}
