import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminRequest, recordMember, requestRemoval } from '../cluster/agent/local-datastore.js';
import { ensureClusterCa, issueCertificate } from '../cluster/pki.js';
import { MicroK8sError } from '../lib/errors.js';
import { editArgsFile, writeArgsFile } from '../node/args-file.js';
import { labNodeOf } from './formation.js';
import { applyLabArgs, initNode, type JoinFormedNode, joinThrough, nodeHome } from './join-formation.js';
import {
  labSignal,
  labStart,
  labStatus,
  nodeReport,
  startJoinedNode,
  waitAgent,
  waitAnswering,
} from './processes.js';
import {
  addressOf,
  agentRunning,
  datastoreRunning,
  findNode,
  LAB_LIMITS,
  type LabNode,
  type LabSpec,
  readLab,
  writeLab,
} from './spec.js';

/** Change a node's failure domain and weight at run time (replicated to every member). */
export async function labSetPlacement(
  dir: string,
  name: string,
  placement: { failureDomain?: string; weight?: number },
): Promise<{ failureDomain: string; weight: number }> {
  return setNodePlacement(findNode(readLab(dir), name).dataDir, placement);
}

/** The placement call itself, through the datastore's admin socket in `dataDir`. */
export async function setNodePlacement(
  dataDir: string,
  placement: { failureDomain?: string; weight?: number },
): Promise<{ failureDomain: string; weight: number }> {
  const query = new URLSearchParams();
  if (placement.failureDomain !== undefined) query.set('failure-domain', placement.failureDomain);
  if (placement.weight !== undefined) query.set('weight', String(placement.weight));
  try {
    return (await adminRequest(dataDir, 'POST', `/placement?${query}`)) as {
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
  const via = spec.nodes.find((n) => datastoreRunning(n));
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
export async function labJoinNode(
  spec: LabSpec,
  options: { failureDomain?: string; weight?: number },
): Promise<LabNode> {
  const via = spec.nodes.find((n) => agentRunning(n) && datastoreRunning(n));
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
  await applyLabArgs(home, planned, []);
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
export async function moveJoinedNode(spec: LabSpec, node: LabNode, newAddress: string): Promise<LabNode> {
  if (datastoreRunning(node)) await labSignal(spec.dir, node.name, 'SIGTERM');
  const { refreshAddress } = await import('../cluster/address-change/refresh.js');
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
  if (datastoreRunning(node)) await labSignal(dir, node.name, 'SIGTERM');
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
