/**
 * The agent's view of the datastore on its own node: its status and member recording through
 * the admin socket (HTTP on a unix socket), and the members' addresses through the etcd API's
 * Cluster.MemberList on the local unix socket. MemberList is read because it is built from the
 * replicated member table, so it names members that joined through another node's agent too;
 * the admin status carries roles but no addresses. Every call is bounded.
 */
import { Client } from 'undici';
import type { NodeStatusReport } from '../../datastore/node/driver.js';
import { MicroK8sError } from '../../lib/errors.js';
import { localEtcdCall } from '../local-etcd.js';
import { adminSocket } from './context.js';
import { AGENT_LIMITS } from './limits.js';

export interface MemberAddress {
  readonly id: number;
  /** HOST:PORT of its Raft listener ('' when not known yet). */
  readonly peerAddress: string;
  readonly clientUrl: string;
}

export interface MemberRecord {
  readonly id: number;
  readonly peerAddress: string;
  readonly clientUrl: string;
  readonly failureDomain: string;
  readonly weight: number;
}

function notRunning(dataDir: string, error: unknown): MicroK8sError {
  const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  return new MicroK8sError(
    'MK_NOT_RUNNING',
    `the local datastore does not answer on ${adminSocket(dataDir)} (${code})`,
    {},
    { cause: error },
  );
}

/** One request to a datastore's admin socket: its JSON answer, or a MicroK8sError with its code. */
export async function adminRequest(
  dataDir: string,
  method: 'GET' | 'POST',
  path: string,
  timeout: number = AGENT_LIMITS.datastoreTimeoutMs,
): Promise<unknown> {
  const client = new Client('http://admin', {
    socketPath: adminSocket(dataDir),
    connectTimeout: timeout,
    headersTimeout: timeout,
    bodyTimeout: timeout,
  });
  try {
    let res: Awaited<ReturnType<Client['request']>>;
    try {
      res = await client.request({ path, method, signal: AbortSignal.timeout(timeout) });
    } catch (error) {
      throw notRunning(dataDir, error);
    }
    const body = (await res.body.json().catch(() => ({}))) as { code?: string; message?: string };
    if (res.statusCode < 200 || res.statusCode >= 300) {
      // The datastore's own code (MK_NO_LEADER, MK_TIMEOUT, ...) says more than a status number.
      const code =
        body.code === 'MK_NO_LEADER' ||
        body.code === 'MK_TIMEOUT' ||
        body.code === 'MK_MEMBER_ID_TAKEN' ||
        body.code === 'MK_MEMBER_ALIVE' ||
        body.code === 'MK_INVALID_CONFIG'
          ? body.code
          : 'MK_INTERNAL';
      throw new MicroK8sError(
        code,
        `the local datastore refused ${method} ${path.split('?')[0]}: ${body.message ?? res.statusCode}`,
      );
    }
    return body;
  } finally {
    await client.close();
  }
}

/** GET /status; MK_NOT_RUNNING when nothing answers. */
export async function localStatus(dataDir: string): Promise<NodeStatusReport> {
  return (await adminRequest(dataDir, 'GET', '/status')) as NodeStatusReport;
}

/** The status, or undefined when the datastore does not run (a fresh node). */
export async function localStatusIfRunning(dataDir: string): Promise<NodeStatusReport | undefined> {
  try {
    return await localStatus(dataDir);
  } catch (error) {
    if (error instanceof MicroK8sError && error.code === 'MK_NOT_RUNNING') return undefined;
    throw error;
  }
}

/** POST /members: the leader adds the node to the Raft group as a spare, the planner promotes it. */
export async function recordMember(dataDir: string, member: MemberRecord): Promise<void> {
  const query = new URLSearchParams({
    id: String(member.id),
    peer: member.peerAddress,
    client: member.clientUrl,
    'failure-domain': member.failureDomain,
    weight: String(member.weight),
  });
  await adminRequest(dataDir, 'POST', `/members?${query}`);
}

interface WireMember {
  ID: string;
  peerURLs: string[];
  clientURLs: string[];
}

/** Cluster.MemberList over the node's etcd unix socket. */
export async function memberAddresses(etcdSocket: string): Promise<MemberAddress[]> {
  const response = await localEtcdCall<{ members: WireMember[] }>(etcdSocket, 'Cluster', 'MemberList', {});
  return response.members.map((m) => ({
    id: Number(m.ID),
    peerAddress: (m.peerURLs[0] ?? '').replace(/^[a-z]+:\/\//, ''),
    clientUrl: m.clientURLs[0] ?? '',
  }));
}

/** POST /members/remove: ask the leader to remove a member (see the datastore's roles agent). */
export async function requestRemoval(dataDir: string, id: number, force: boolean): Promise<void> {
  await adminRequest(dataDir, 'POST', `/members/remove?id=${id}${force ? '&force=1' : ''}`);
}

/** POST /transfer: ask the local node, if it leads, to hand leadership to `to`. */
export async function requestTransfer(dataDir: string, to: number): Promise<void> {
  await adminRequest(dataDir, 'POST', `/transfer?to=${to}`);
}
