/**
 * One addon enable or disable at a time, cluster-wide: a key in our replicated datastore,
 * created in a Txn only if it does not exist and attached to a lease, as etcd's concurrency
 * mutex does. A holder that dies stops renewing, the lease expires and the key goes with it.
 * Renewal uses unary calls only: a fresh lease, then a Txn that moves the key onto it if the
 * key still holds our token, then the old lease is revoked.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { localEtcdCall } from '../cluster/local-etcd.js';
import { MicroK8sError } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';

const log = createLogger('addons.lock');

export const ADDON_LOCK_KEY = '/microk8s/addons/lock';

export const ADDON_LOCK_LIMITS = {
  /** A dead holder's lock is free again within this. */
  ttlS: 15,
  renewEveryMs: 5_000,
  /** How long an enable waits for another one to finish. */
  waitMs: 15 * 60_000,
  pollMs: 1_000,
  waitingProgressEveryMs: 10_000,
} as const;

interface Holder {
  readonly token: string;
  readonly host: string;
  readonly pid: number;
  readonly operation: string;
  readonly since: string;
}

interface TxnAnswer {
  succeeded: boolean;
  responses: { response_range?: { kvs: { value: Buffer }[] } }[];
}

const key = Buffer.from(ADDON_LOCK_KEY);

async function grant(socket: string): Promise<string> {
  const answer = await localEtcdCall<{ ID: string; error: string }>(socket, 'Lease', 'LeaseGrant', {
    TTL: String(ADDON_LOCK_LIMITS.ttlS),
    ID: '0',
  });
  if (answer.error)
    throw new MicroK8sError('MK_ADDON_LOCKED', `cannot grant the lock's lease: ${answer.error}`);
  return answer.ID;
}

async function revoke(socket: string, lease: string): Promise<void> {
  await localEtcdCall(socket, 'Lease', 'LeaseRevoke', { ID: lease }).catch(() => undefined);
}

/** Put our holder record on `lease` if the compare holds; the current record otherwise. */
async function txn(socket: string, compare: object, value: Buffer, lease: string): Promise<TxnAnswer> {
  return localEtcdCall<TxnAnswer>(socket, 'KV', 'Txn', {
    compare: [{ key, ...compare }],
    success: [{ request_put: { key, value, lease } }],
    failure: [{ request_range: { key } }],
  });
}

function describeHolder(answer: TxnAnswer): string {
  const value = answer.responses[0]?.response_range?.kvs[0]?.value;
  if (!value) return 'another operation';
  try {
    const h = JSON.parse(value.toString('utf8')) as Holder;
    return `${h.operation} on ${h.host} (pid ${h.pid}) since ${h.since}`;
  } catch {
    return 'another operation';
  }
}

/** Runs `body` holding the cluster-wide addon lock. */
export async function withAddonLock<T>(
  socket: string,
  operation: string,
  progress: (line: string) => void,
  body: () => Promise<T>,
): Promise<T> {
  const holder: Holder = {
    token: randomBytes(16).toString('hex'),
    host: hostname(),
    pid: process.pid,
    operation,
    since: new Date().toISOString(),
  };
  const value = Buffer.from(JSON.stringify(holder));
  const deadline = Date.now() + ADDON_LOCK_LIMITS.waitMs;
  let lease = '';
  let lastProgress = 0;
  for (;;) {
    lease = await grant(socket);
    const answer = await txn(
      socket,
      { result: 'EQUAL', target: 'CREATE', create_revision: '0' },
      value,
      lease,
    );
    if (answer.succeeded) break;
    await revoke(socket, lease);
    if (Date.now() > deadline)
      throw new MicroK8sError('MK_ADDON_LOCKED', `the addon lock is still held by ${describeHolder(answer)}`);
    if (Date.now() - lastProgress >= ADDON_LOCK_LIMITS.waitingProgressEveryMs) {
      lastProgress = Date.now();
      progress(`waiting for the addon lock, held by ${describeHolder(answer)}`);
    }
    await sleep(ADDON_LOCK_LIMITS.pollMs);
  }
  let lost = false;
  let renewing = Promise.resolve();
  const renew = async () => {
    const next = await grant(socket);
    const answer = await txn(socket, { result: 'EQUAL', target: 'VALUE', value }, value, next);
    if (answer.succeeded) {
      await revoke(socket, lease);
      lease = next;
    } else {
      await revoke(socket, next);
      lost = true;
      log.warn('the addon lock was lost (its lease expired)', { operation });
    }
  };
  const timer = setInterval(() => {
    renewing = renewing.then(renew).catch((error: unknown) => log.warn('lock renewal failed', { error }));
  }, ADDON_LOCK_LIMITS.renewEveryMs);
  try {
    const result = await body();
    if (lost) throw new MicroK8sError('MK_ADDON_LOCKED', `the addon lock expired while ${operation} ran`);
    return result;
  } finally {
    clearInterval(timer);
    await renewing;
    await localEtcdCall(socket, 'KV', 'Txn', {
      compare: [{ key, result: 'EQUAL', target: 'VALUE', value }],
      success: [{ request_delete_range: { key } }],
      failure: [],
    }).catch((error: unknown) => log.warn('lock release failed; it expires with its lease', { error }));
    await revoke(socket, lease);
  }
}
