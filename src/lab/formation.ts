import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_LIMITS } from '../cluster/agent/limits.js';
import { ensureClusterCa, issueCertificate } from '../cluster/pki.js';
import { DATASTORE_CLIENT_ORGANIZATION } from '../datastore/etcd/client-identity.js';
import { readDatastoreArgs } from '../datastore/node/config.js';
import { assert } from '../lib/assert.js';
import { MicroK8sError } from '../lib/errors.js';
import { writeArgsFile } from '../node/args-file.js';
import {
  applyLabArgs,
  initNode,
  type JoinFormedNode,
  joinThrough,
  labClientCertificate,
  type NodeHome,
} from './join-formation.js';
import {
  labStartMany,
  labStatus,
  nodeReport,
  startDatastore,
  startJoinedNode,
  waitAgent,
  waitAnswering,
  waitReady,
} from './processes.js';
import {
  addressOf,
  agentRunning,
  datastoreRunning,
  LAB_LIMITS,
  type LabNode,
  type LabNodeStatus,
  type LabSpec,
  type LabUpOptions,
  readLab,
  specPath,
  writeLab,
} from './spec.js';

export async function labUp(options: LabUpOptions): Promise<LabNodeStatus[]> {
  const n = options.nodes;
  if (!(Number.isInteger(n) && n >= 1 && n <= LAB_LIMITS.maxNodes)) {
    throw new MicroK8sError('MK_INVALID_ARGUMENT', `--nodes must be 1 to ${LAB_LIMITS.maxNodes}, got ${n}`);
  }
  const dir = options.dir;
  if (existsSync(specPath(dir))) {
    const existing = readLab(dir);
    const running = (node: LabNode) => datastoreRunning(node) || agentRunning(node);
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
      organization: DATASTORE_CLIENT_ORGANIZATION,
      usage: 'client',
    });
    clientTls = { ca: ca.certPath, cert: client.certPath, key: client.keyPath };
  }
  const spec: LabSpec = { clusterId, dir, nodes, formation, ...(clientTls ? { clientTls } : {}) };
  for (const node of nodes) startDatastore(node);
  writeLab(spec);
  await waitReady(spec, options.onProgress);
  return labStatus(dir);
}

export function labNodeOf(
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

/**
 * The lab as users build a cluster (see join-formation.ts): every node set up alone, node 1
 * started, then each other node joins through node 1's agent, one after the other so that node
 * ids follow node names, and starts at once; the planner promotes the joiners.
 */
export async function labUpByJoin(
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
export function plannedRoles(n: number): { voters: number; standbys: number; spares: number } {
  const voters = Math.min(n, 3);
  const standbys = Math.min(n - voters, 3);
  return { voters, standbys, spares: n - voters - standbys };
}

/** Wait (bounded) until the leader reports every member and the planner's roles. */
export async function waitRoles(spec: LabSpec, onProgress: (line: string) => void): Promise<void> {
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
