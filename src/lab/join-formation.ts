/**
 * A lab formed the way users form a cluster: every node is set up as the install hook sets up a
 * machine (`agent init`: its own certificates, a one-node datastore, a cluster agent), then node 1
 * hands out `add-node` tokens and every other node runs `join` against node 1's agent over
 * HTTPS. The joiners enter the Raft group as spares and the roles planner promotes them.
 *
 * Each node has its own MICROK8S_HOME under the lab folder (data = SNAP_DATA, common =
 * SNAP_COMMON) and runs two processes: its datastore and its cluster agent. The nodes serve the
 * etcd API over TLS with client certificates, as every node set up by `agent init` does; the lab
 * issues itself a client certificate from the cluster CA.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { addNode } from '../cluster/agent/add-node.js';
import { type AgentContext, agentContext } from '../cluster/agent/context.js';
import { runJoin } from '../cluster/agent/join.js';
import { initSingleNode } from '../cluster/agent/node-init.js';
import { issueCertificate } from '../cluster/pki.js';
import { DATASTORE_CLIENT_ORGANIZATION } from '../datastore/etcd/client-identity.js';
import { MicroK8sError } from '../lib/errors.js';
import { openLogFile } from '../lib/file-modes.js';
import { packageRoot, resolvePaths } from '../lib/paths.js';
import { editArgsText, rewriteArgsFile } from '../node/args-file.js';

/** What the lab needs to know to form one node. */
export interface JoinFormedNode {
  readonly id: number;
  readonly name: string;
  readonly address: string;
  readonly failureDomain: string;
  readonly weight: number;
}

interface JoinFormationPorts {
  readonly peerPort: number;
  readonly clientPort: number;
  readonly agentPort: number;
}

/** Where a join-formed node keeps its files: one MICROK8S_HOME per node. */
export interface NodeHome {
  readonly home: string;
  readonly ctx: AgentContext;
  readonly argsFile: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly agentLogFile: string;
}

const JOIN_FORMATION_LIMITS = {
  /** The agent's port must accept connections within this after its process starts. */
  agentListenTimeoutMs: 60_000,
  agentPollMs: 100,
} as const;

export function nodeHome(labDir: string, name: string): NodeHome {
  const home = join(labDir, name);
  const ctx = agentContext(resolvePaths({ MICROK8S_HOME: home }));
  return {
    home,
    ctx,
    argsFile: ctx.datastoreArgs,
    dataDir: ctx.datastoreDir,
    logFile: join(ctx.paths.logs, 'datastore.log'),
    agentLogFile: join(ctx.paths.logs, 'cluster-agent.log'),
  };
}

/** The install hook's part: certificates, a one-node datastore config, the agent's --bind. */
export async function initNode(
  labDir: string,
  node: JoinFormedNode,
  ports: JoinFormationPorts,
): Promise<NodeHome> {
  const home = nodeHome(labDir, node.name);
  await initSingleNode(home.ctx, {
    address: node.address,
    hostname: node.name,
    agentPort: ports.agentPort,
    peerPort: ports.peerPort,
    clientPort: ports.clientPort,
  });
  return home;
}

/** Placement and the lab's extra flags go into the node's own args file, as an operator would. */
export async function applyLabArgs(
  home: NodeHome,
  node: JoinFormedNode,
  extraArgs: readonly string[],
): Promise<void> {
  await rewriteArgsFile(home.argsFile, (text) => {
    const placed = editArgsText(text, {
      set: { 'failure-domain': node.failureDomain, weight: String(node.weight) },
    });
    return extraArgs.length > 0 ? `${placed.text}${extraArgs.join('\n')}\n` : placed.text;
  });
}

/** `microk8s agent run` of one node, detached; its pid is the lab's to stop. */
export function spawnAgent(home: NodeHome): number {
  mkdirSync(home.ctx.paths.logs, { recursive: true });
  const out = openLogFile(home.agentLogFile);
  const env: NodeJS.ProcessEnv = { ...process.env, MICROK8S_HOME: home.home, MICROK8S_LOG_FILE: '' };
  delete env.SNAP;
  const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'run.js'), 'agent', 'run'], {
    detached: true,
    stdio: ['ignore', out, out],
    env,
  });
  closeSync(out); // the child has its own copy
  child.unref();
  if (child.pid === undefined)
    throw new MicroK8sError('MK_INTERNAL', `could not start the agent of ${home.home}`);
  return child.pid;
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1_000 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/** Wait (bounded) until an agent accepts connections; its process must stay alive meanwhile. */
export async function waitAgentListening(
  host: string,
  port: number,
  alive: () => boolean,
  logFile: string,
): Promise<void> {
  const deadline = Date.now() + JOIN_FORMATION_LIMITS.agentListenTimeoutMs;
  while (Date.now() < deadline) {
    if (await accepts(host, port)) return;
    if (!alive())
      throw new MicroK8sError('MK_NOT_RUNNING', `the cluster agent on ${host} exited; see ${logFile}`);
    await sleep(JOIN_FORMATION_LIMITS.agentPollMs);
  }
  throw new MicroK8sError('MK_TIMEOUT', `the cluster agent on ${host}:${port} did not start listening`);
}

/**
 * `add-node` on `via`, then `join` from `home` with the printed join string (certificate hash
 * pinned). The joiner's datastore is not started here: the lab starts it like its other nodes.
 */
export async function joinThrough(
  via: NodeHome,
  home: NodeHome,
  node: JoinFormedNode,
  onProgress?: (line: string) => void,
): Promise<number> {
  const token = await addNode(via.ctx, {});
  const joinString = token.joinStrings[0];
  if (joinString === undefined)
    throw new MicroK8sError('MK_INVALID_CONFIG', 'add-node printed no join string');
  const result = await runJoin(home.ctx, {
    joinString,
    worker: false,
    skipVerify: false,
    address: node.address,
    hostname: node.name,
    start: false,
    ...(onProgress ? { onProgress: (line) => onProgress(`${node.name}: ${line}`) } : {}),
  });
  if (result.nodeId === undefined) throw new MicroK8sError('MK_AGENT_PROTOCOL', 'the join gave no node id');
  return result.nodeId;
}

/** The lab's own etcd client certificate, from the cluster CA that node 1 created. */
export async function labClientCertificate(
  labDir: string,
  first: NodeHome,
): Promise<{ ca: string; cert: string; key: string }> {
  const issued = await issueCertificate(first.ctx.certs.ca, join(labDir, 'client'), 'client', {
    commonName: 'lab-client',
    organization: DATASTORE_CLIENT_ORGANIZATION,
    usage: 'client',
  });
  return { ca: first.ctx.certs.ca.certPath, cert: issued.certPath, key: issued.keyPath };
}
