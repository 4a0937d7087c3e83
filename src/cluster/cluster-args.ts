/**
 * The cluster-wide args of the services every node runs (the kubelet, kube-proxy) and of the API
 * server (every control-plane node's), recorded in
 * the replicated keyspace by a `configure` roll over the control plane: before the roll (each
 * node's restart applies the record again, so it must already say the new thing), and put back
 * if the roll fails. Workers run
 * no agent and no datastore, so a roll cannot reach them; they follow this record instead (the
 * API-server proxy asks an agent for it every few seconds, cluster-args-follow.ts), and every
 * node applies it before its kubelet and kube-proxy start, so a node that joins later gets what
 * the cluster was configured with (the dns addon's --cluster-dns, ...).
 *
 * One key per service: {set: {flag: value}, remove: [flag]}. A later change of a flag replaces
 * the earlier one; a removed flag stays listed as removed so a node that still has it drops it.
 */
import { MicroK8sError } from '../lib/errors.js';
import { localEtcdCall } from './local-etcd.js';

export const CLUSTER_ARGS_PREFIX = '/microk8s/cluster-args/';

/**
 * The services a cluster-wide change is recorded for: the ones workers run too, and the API
 * server (a control-plane node that joins after `disable rbac` starts as the others run).
 */
export const FOLLOWED_SERVICES = ['kubelet', 'kube-proxy', 'kube-apiserver'] as const;
export type FollowedService = (typeof FOLLOWED_SERVICES)[number];
/** What a worker follows (it runs no API server). */
export const WORKER_FOLLOWED: readonly FollowedService[] = ['kubelet', 'kube-proxy'];

export interface ServiceArgsRecord {
  readonly set: Readonly<Record<string, string>>;
  readonly remove: readonly string[];
  /** The key's mod revision when read (not stored): a node applies each revision once. */
  readonly revision?: string;
}

export type ClusterArgs = Partial<Record<FollowedService, ServiceArgsRecord>>;

export function isFollowedService(service: string): service is FollowedService {
  return (FOLLOWED_SERVICES as readonly string[]).includes(service);
}

function keyOf(service: FollowedService): Buffer {
  return Buffer.from(`${CLUSTER_ARGS_PREFIX}${service}`);
}

/** A record read back from the keyspace or an agent's answer; anything else is refused. */
export function parseServiceArgsRecord(value: unknown, where: string): ServiceArgsRecord {
  const r = value as { set?: unknown; remove?: unknown };
  const setOk =
    typeof r?.set === 'object' &&
    r.set !== null &&
    Object.values(r.set as object).every((v) => typeof v === 'string');
  const removeOk = Array.isArray(r?.remove) && (r.remove as unknown[]).every((v) => typeof v === 'string');
  const revision = (value as { revision?: unknown })?.revision;
  if (!setOk || !removeOk || (revision !== undefined && typeof revision !== 'string'))
    throw new MicroK8sError('MK_AGENT_PROTOCOL', `${where}: not a cluster args record`);
  return {
    set: r.set as Record<string, string>,
    remove: r.remove as string[],
    ...(revision === undefined ? {} : { revision }),
  };
}

/** The record after one more change: later changes of a flag replace earlier ones. */
export function mergeChange(
  before: ServiceArgsRecord | undefined,
  change: { readonly set: Readonly<Record<string, string>>; readonly remove: readonly string[] },
): ServiceArgsRecord {
  const set: Record<string, string> = { ...(before?.set ?? {}) };
  const remove = new Set(before?.remove ?? []);
  for (const flag of change.remove) {
    delete set[flag];
    remove.add(flag);
  }
  for (const [flag, value] of Object.entries(change.set)) {
    set[flag] = value;
    remove.delete(flag);
  }
  return { set, remove: [...remove].sort() };
}

export async function readClusterArgs(
  etcdSocket: string,
  services: readonly FollowedService[] = FOLLOWED_SERVICES,
): Promise<ClusterArgs> {
  const out: ClusterArgs = {};
  for (const service of services) {
    const answer = await localEtcdCall<{ kvs: { value: Buffer; mod_revision: string }[] }>(
      etcdSocket,
      'KV',
      'Range',
      { key: keyOf(service) },
    );
    const kv = answer.kvs[0];
    if (kv === undefined) continue;
    try {
      const record = parseServiceArgsRecord(
        JSON.parse(kv.value.toString('utf8')),
        `${CLUSTER_ARGS_PREFIX}${service}`,
      );
      out[service] = { set: record.set, remove: record.remove, revision: String(kv.mod_revision) };
    } catch {
      // A damaged record is left out (nothing is applied from it), never guessed at.
    }
  }
  return out;
}

/**
 * Records one change of a followed service. Read, merge and a Txn that writes only if the key
 * did not change meanwhile (retried, bounded): two rolls recording at once both land.
 */
export async function recordClusterChange(
  etcdSocket: string,
  service: FollowedService,
  change: { readonly set: Readonly<Record<string, string>>; readonly remove: readonly string[] },
): Promise<{ before: ServiceArgsRecord | undefined; after: ServiceArgsRecord }> {
  const key = keyOf(service);
  for (let attempt = 1; attempt <= 5; attempt++) {
    const answer = await localEtcdCall<{ kvs: { value: Buffer; mod_revision: string }[] }>(
      etcdSocket,
      'KV',
      'Range',
      { key },
    );
    const kv = answer.kvs[0];
    const before = kv
      ? parseServiceArgsRecord(JSON.parse(kv.value.toString('utf8')), key.toString())
      : undefined;
    const next = mergeChange(before, change);
    const compare = kv
      ? { key, result: 'EQUAL', target: 'MOD', mod_revision: kv.mod_revision }
      : { key, result: 'EQUAL', target: 'CREATE', create_revision: '0' };
    const txn = await localEtcdCall<{ succeeded: boolean }>(etcdSocket, 'KV', 'Txn', {
      compare: [compare],
      success: [{ request_put: { key, value: Buffer.from(JSON.stringify(next)) } }],
      failure: [],
    });
    if (txn.succeeded) return { before, after: next };
  }
  throw new MicroK8sError(
    'MK_TIMEOUT',
    `the cluster args of ${service} kept changing; the change was not recorded`,
  );
}

/** Puts a record back as it was before a change (none: the key is deleted). */
export async function restoreClusterArgs(
  etcdSocket: string,
  service: FollowedService,
  before: ServiceArgsRecord | undefined,
): Promise<void> {
  const key = keyOf(service);
  if (before === undefined) await localEtcdCall(etcdSocket, 'KV', 'DeleteRange', { key });
  else {
    const value = Buffer.from(JSON.stringify({ set: before.set, remove: before.remove }));
    await localEtcdCall(etcdSocket, 'KV', 'Put', { key, value });
  }
}
