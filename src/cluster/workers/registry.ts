/**
 * The cluster's record of its worker nodes. Workers run no datastore, so the Raft member table
 * does not know them; the agent that admits one writes a record into the replicated keyspace
 * (through its node's etcd socket), so every control-plane node can list them (`status`) and
 * `remove-node` can find and forget one. Keys live under a prefix of our own, away from the API
 * server's /registry.
 */
import { MicroK8sError } from '../../lib/errors.js';
import { localEtcdCall } from '../local-etcd.js';

export const WORKER_PREFIX = '/microk8s/workers/';
const HOSTNAME_RE = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

export interface WorkerRecord {
  readonly hostname: string;
  readonly address: string;
  /** ISO time of the join. */
  readonly joinedAt: string;
}

function keyOf(hostname: string): Buffer {
  if (!HOSTNAME_RE.test(hostname)) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `not a valid worker hostname: ${JSON.stringify(hostname)}`,
    );
  }
  return Buffer.from(`${WORKER_PREFIX}${hostname}`);
}

/** The end of a prefix range: the prefix with its last byte incremented. */
export function prefixEnd(prefix: string = WORKER_PREFIX): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1]! += 1;
  return end;
}

function parseRecord(value: Buffer): WorkerRecord | undefined {
  try {
    const r = JSON.parse(value.toString('utf8')) as Partial<WorkerRecord>;
    if (typeof r.hostname === 'string' && typeof r.address === 'string' && typeof r.joinedAt === 'string') {
      return { hostname: r.hostname, address: r.address, joinedAt: r.joinedAt };
    }
  } catch {
    // a damaged record is skipped, not fatal: the listing shows what it can
  }
  return undefined;
}

export async function recordWorker(etcdSocket: string, worker: WorkerRecord): Promise<void> {
  await localEtcdCall(etcdSocket, 'KV', 'Put', {
    key: keyOf(worker.hostname),
    value: Buffer.from(JSON.stringify(worker)),
  });
}

export async function listWorkers(etcdSocket: string): Promise<WorkerRecord[]> {
  const response = await localEtcdCall<{ kvs: { value: Buffer }[] }>(etcdSocket, 'KV', 'Range', {
    key: Buffer.from(WORKER_PREFIX),
    range_end: prefixEnd(),
  });
  return response.kvs.map((kv) => parseRecord(kv.value)).filter((r) => r !== undefined);
}

/** A worker by hostname or address, or undefined. */
export async function findWorker(etcdSocket: string, name: string): Promise<WorkerRecord | undefined> {
  const workers = await listWorkers(etcdSocket);
  const lower = name.toLowerCase();
  return workers.find((w) => w.hostname === lower || w.address === name);
}

/** Forget a worker; true when a record was deleted. */
export async function forgetWorker(etcdSocket: string, hostname: string): Promise<boolean> {
  const response = await localEtcdCall<{ deleted: string }>(etcdSocket, 'KV', 'DeleteRange', {
    key: keyOf(hostname),
  });
  return Number(response.deleted) > 0;
}
