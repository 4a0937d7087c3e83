/**
 * The cluster-wide refresh lease: one node of a cluster refreshes at a time. A key in the
 * replicated datastore, created only if absent (a Txn on its create revision) and attached to
 * an etcd lease. pre-refresh takes it and post-refresh gives it back: two processes, so it is
 * not renewed in between; its TTL bounds how long a node whose refresh died blocks the others.
 * Taking it again from the node that holds it succeeds (snapd re-runs a failed pre-refresh).
 */
import { localEtcdCall } from '../cluster/local-etcd.js';
import { MicroK8sError } from '../lib/errors.js';

export const REFRESH_LEASE_KEY = '/microk8s/refresh/lease';

export const REFRESH_LEASE_LIMITS = {
  /** Longer than a refresh of one node (download aside: snapd downloads before pre-refresh). */
  ttlS: 30 * 60,
} as const;

export interface RefreshHolder {
  /** Who refreshes: the node's cluster-unique name (cluster id and member id). */
  readonly node: string;
  readonly fromRevision: string;
  readonly since: string;
  /** The etcd lease the key is on (revoked on release). */
  readonly lease: string;
}

interface TxnAnswer {
  succeeded: boolean;
  responses: { response_range?: { kvs: { value: Buffer }[] } }[];
}

const key = Buffer.from(REFRESH_LEASE_KEY);

function holderOf(answer: TxnAnswer): RefreshHolder | undefined {
  const value = answer.responses[0]?.response_range?.kvs[0]?.value;
  if (!value) return undefined;
  try {
    return JSON.parse(value.toString('utf8')) as RefreshHolder;
  } catch {
    return undefined;
  }
}

export type TakeResult = { readonly taken: true; readonly holder: RefreshHolder; readonly again: boolean };

/** Takes the lease for `node`; MK_REFRESH_REFUSED naming the holder when another node has it. */
export async function takeRefreshLease(
  socket: string,
  node: string,
  fromRevision: string,
): Promise<TakeResult> {
  const granted = await localEtcdCall<{ ID: string; error: string }>(socket, 'Lease', 'LeaseGrant', {
    TTL: String(REFRESH_LEASE_LIMITS.ttlS),
    ID: '0',
  });
  if (granted.error)
    throw new MicroK8sError('MK_REFRESH_REFUSED', `cannot grant the refresh lease: ${granted.error}`);
  const holder: RefreshHolder = { node, fromRevision, since: new Date().toISOString(), lease: granted.ID };
  const answer = await localEtcdCall<TxnAnswer>(socket, 'KV', 'Txn', {
    compare: [{ key, result: 'EQUAL', target: 'CREATE', create_revision: '0' }],
    success: [{ request_put: { key, value: Buffer.from(JSON.stringify(holder)), lease: granted.ID } }],
    failure: [{ request_range: { key } }],
  });
  if (answer.succeeded) return { taken: true, holder, again: false };
  await localEtcdCall(socket, 'Lease', 'LeaseRevoke', { ID: granted.ID }).catch(() => undefined);
  const current = holderOf(answer);
  if (current?.node === node) return { taken: true, holder: current, again: true };
  throw new MicroK8sError(
    'MK_REFRESH_REFUSED',
    `another node refreshes now: ${current ? `${current.node} (from revision ${current.fromRevision}, since ${current.since})` : 'the lease holder is unreadable'}`,
    { holder: current?.node ?? null },
  );
}

async function readLease(socket: string): Promise<{ value: Buffer; holder: RefreshHolder } | undefined> {
  const answer = await localEtcdCall<{ kvs?: { value: Buffer }[] }>(socket, 'KV', 'Range', { key });
  const value = answer.kvs?.[0]?.value;
  return value ? { value, holder: JSON.parse(value.toString('utf8')) as RefreshHolder } : undefined;
}

/** Gives the lease back if `node` holds it; whether it did. */
export async function releaseRefreshLease(socket: string, node: string): Promise<boolean> {
  const current = await readLease(socket);
  if (current?.holder.node !== node) return false;
  const deleted = await localEtcdCall<TxnAnswer>(socket, 'KV', 'Txn', {
    compare: [{ key, result: 'EQUAL', target: 'VALUE', value: current.value }],
    success: [{ request_delete_range: { key } }],
    failure: [],
  });
  await localEtcdCall(socket, 'Lease', 'LeaseRevoke', { ID: current.holder.lease }).catch(() => undefined);
  return deleted.succeeded;
}

/** Who holds the lease now, if anyone. */
export async function refreshLeaseHolder(socket: string): Promise<RefreshHolder | undefined> {
  return (await readLease(socket))?.holder;
}
