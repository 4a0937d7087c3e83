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
import { JoinTokenStore, TOKEN_LIMITS, type TokenRole, type TokenSummary } from '../join/token-store.js';
import { type AgentContext, readAgentBind } from './context.js';

export interface AddNodeOptions {
  /** The token's life (default one hour); given alone it also makes the token reusable. */
  readonly ttlSeconds?: number;
  /** With ttlSeconds: single use all the same. */
  readonly singleUse?: boolean;
  readonly token?: string;
  /** A worker token admits workers only (default: control plane, which may also admit workers). */
  readonly worker?: boolean;
}

export interface AddNodeResult {
  readonly token: string;
  readonly certHash: string;
  readonly expiresAt: string;
  readonly singleUse: boolean;
  readonly role: TokenRole;
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
  const singleUse = options.singleUse === true || options.ttlSeconds === undefined;
  const role: TokenRole = options.worker ? 'worker' : 'control-plane';
  const ttlSeconds = options.ttlSeconds ?? TOKEN_LIMITS.defaultTtlSeconds;
  await store.add(token, { ttlSeconds, singleUse, role });
  return {
    token,
    certHash,
    singleUse,
    role,
    expiresAt: new Date(Date.now() + ttlSeconds * 1000).toISOString(),
    joinStrings: hosts.map((host) => formatJoinString({ host, port, token, certHash })),
  };
}

/** `add-node --list`: the tokens this node remembers. */
export function listTokens(ctx: AgentContext): Promise<TokenSummary[]> {
  return new JoinTokenStore(ctx.credentials).list();
}

/** `add-node --revoke TOKEN|ID` or `--all`: how many tokens were forgotten. */
export async function revokeTokens(ctx: AgentContext, which: string | 'all'): Promise<{ revoked: number }> {
  const store = new JoinTokenStore(ctx.credentials);
  const revoked = await store.revoke(which === 'all' ? { all: true } : { token: which });
  if (revoked === 0 && which !== 'all') {
    throw new MicroK8sError('MK_JOIN_TOKEN_INVALID', 'no outstanding token has this value or id');
  }
  return { revoked };
}
