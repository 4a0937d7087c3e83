/**
 * A new node as the snap's install hook will set it up: its certificate set (its own CA), a
 * single-node datastore configuration (--bootstrap, a new random cluster id) and the cluster
 * agent's --bind. Every node starts as a one-node cluster; add-node/join grows it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { MicroK8sError } from '../../lib/errors.js';
import { writeArgsFile } from '../../node/args-file.js';
import { writeNodeRecord } from '../../node/record.js';
import { PRIVATE_DIR_MODE } from '../files.js';
import { ensureNodeCertificates } from '../pki/node-set.js';
import type { AgentContext } from './context.js';
import { renderDatastoreArgs } from './datastore-args.js';
import { AGENT_LIMITS } from './limits.js';
import { nodeAddresses } from './node-addresses.js';

export interface InitOptions {
  readonly address: string;
  readonly hostname?: string;
  readonly agentPort?: number;
  readonly peerPort?: number;
  readonly clientPort?: number;
  /** Re-initialise over an existing configuration (never over running data: the caller checks). */
  readonly force?: boolean;
}

export interface InitResult {
  readonly clusterId: string;
  readonly datastoreArgs: string;
  readonly agentArgs: string;
  readonly bind: string;
}

export async function initSingleNode(ctx: AgentContext, options: InitOptions): Promise<InitResult> {
  if (isIP(options.address) === 0) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `--address: ${JSON.stringify(options.address)} is not an IP address`,
    );
  }
  if (existsSync(ctx.datastoreArgs) && !options.force) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `this node is already set up (${ctx.datastoreArgs}); pass --force to set it up again`,
    );
  }
  await ensureNodeCertificates(ctx.certs.dir, {
    hostname: options.hostname ?? osHostname(),
    ips: nodeAddresses(options.address),
    nodeId: 1,
  });
  const clusterId = `microk8s-${randomBytes(8).toString('hex')}`;
  await mkdir(ctx.paths.args, { recursive: true, mode: PRIVATE_DIR_MODE });
  await mkdir(ctx.datastoreDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const text = renderDatastoreArgs({
    id: 1,
    clusterId,
    dataDir: ctx.datastoreDir,
    address: options.address,
    peerPort: options.peerPort ?? AGENT_LIMITS.defaultPeerPort,
    clientPort: options.clientPort ?? AGENT_LIMITS.defaultClientPort,
    certs: ctx.certs,
    bootstrap: true,
  });
  await writeArgsFile(ctx.datastoreArgs, text);
  const host = isIP(options.address) === 6 ? `[${options.address}]` : options.address;
  const bind = `${host}:${options.agentPort ?? AGENT_LIMITS.defaultPort}`;
  await writeArgsFile(ctx.agentArgs, `# cluster agent args (one flag per line)\n--bind=${bind}\n`);
  await writeNodeRecord(ctx.paths, {
    kind: 'control-plane',
    clusterId,
    memberId: 1,
    address: options.address,
    joinedAt: new Date().toISOString(),
  });
  return { clusterId, datastoreArgs: ctx.datastoreArgs, agentArgs: ctx.agentArgs, bind };
}
