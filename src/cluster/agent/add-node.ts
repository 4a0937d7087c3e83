/**
 * `microk8s add-node`: a token in this node's store, and the join strings to reach this node's
 * agent: one per address the agent actually listens on (its --bind address, or every usable
 * address when it binds them all), with the hash of the certificate it serves.
 */
import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { MicroK8sError } from '../../lib/errors.js';
import { usableAddresses } from '../join/addresses.js';
import { certificateHashPrefix } from '../join/cert-hash.js';
import { formatJoinString } from '../join/join-string.js';
import { checkUserToken, generateToken } from '../join/token.js';
import { JoinTokenStore } from '../join/token-store.js';
import { type AgentContext, readAgentBind } from './context.js';

export interface AddNodeOptions {
  readonly ttlSeconds?: number;
  readonly token?: string;
}

export interface AddNodeResult {
  readonly token: string;
  readonly certHash: string;
  /** Undefined: single use, no expiry. */
  readonly expiresAt?: string;
  readonly singleUse: boolean;
  readonly joinStrings: string[];
}

export function agentAddresses(ctx: AgentContext): { hosts: string[]; port: number } {
  const bind = readAgentBind(ctx);
  const any = bind.host === '0.0.0.0' || bind.host === '::';
  const hosts = any ? usableAddresses(networkInterfaces()).map((a) => a.address) : [bind.host];
  return { hosts, port: bind.port };
}

export async function addNode(ctx: AgentContext, options: AddNodeOptions): Promise<AddNodeResult> {
  let pem: string;
  try {
    pem = await readFile(ctx.certs.leaves.server.certPath, 'utf8');
  } catch (error) {
    throw new MicroK8sError(
      'MK_CERTS_MISSING',
      `the agent's certificate ${ctx.certs.leaves.server.certPath} cannot be read`,
      {},
      { cause: error },
    );
  }
  const certHash = certificateHashPrefix(pem);
  const { hosts, port } = agentAddresses(ctx);
  if (hosts.length === 0) {
    throw new MicroK8sError(
      'MK_INVALID_CONFIG',
      'this node has no address another machine could use (only loopback or link-local)',
    );
  }
  const token = options.token === undefined ? generateToken() : checkUserToken(options.token);
  const store = new JoinTokenStore(ctx.credentials);
  await store.add(token, options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds });
  return {
    token,
    certHash,
    singleUse: options.ttlSeconds === undefined,
    ...(options.ttlSeconds === undefined
      ? {}
      : { expiresAt: new Date(Date.now() + options.ttlSeconds * 1000).toISOString() }),
    joinStrings: hosts.map((host) => formatJoinString({ host, port, token, certHash })),
  };
}
