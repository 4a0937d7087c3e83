/**
 * Node names are claimed once per cluster: a worker's kubelet identity is system:node:<name>,
 * so a token holder who could pick the name of an existing node could act as that node. A claim
 * is a key in the replicated keyspace (/microk8s/node-names/<name>), created with a Txn that
 * only succeeds when the key is absent, so two agents admitting two joiners at once cannot both
 * win. Control-plane nodes claim their name when they join (they hold the CA key anyway, so
 * their claim replaces an older one: a node that left and joins again) and at each start of
 * their agent (the first node was never admitted by anyone); workers only when nobody holds it.
 * remove-node of a worker releases its name.
 */
import { MicroK8sError } from '../../lib/errors.js';
import { localEtcdCall } from '../local-etcd.js';

export const NAME_PREFIX = '/microk8s/node-names/';
const COMPARE_EQUAL = 0;
const TARGET_CREATE = 1;

export interface NameClaim {
  readonly kind: 'worker' | 'control-plane';
  readonly address: string;
  readonly memberId?: number;
}

const keyOf = (name: string) => Buffer.from(`${NAME_PREFIX}${name}`);

export async function nameClaim(etcdSocket: string, name: string): Promise<NameClaim | undefined> {
  const response = await localEtcdCall<{ kvs: { value: Buffer }[] }>(etcdSocket, 'KV', 'Range', {
    key: keyOf(name),
  });
  const kv = response.kvs[0];
  if (!kv) return undefined;
  try {
    return JSON.parse(kv.value.toString('utf8')) as NameClaim;
  } catch {
    return { kind: 'control-plane', address: '' };
  }
}

/** Claim `name`; with `replace` (a control-plane node) any older claim is replaced. */
export async function claimNodeName(
  etcdSocket: string,
  name: string,
  claim: NameClaim,
  options: { replace: boolean },
): Promise<void> {
  const put = { request_put: { key: keyOf(name), value: Buffer.from(JSON.stringify(claim)) } };
  if (options.replace) {
    await localEtcdCall(etcdSocket, 'KV', 'Put', put.request_put);
    return;
  }
  const response = await localEtcdCall<{ succeeded: boolean }>(etcdSocket, 'KV', 'Txn', {
    compare: [{ result: COMPARE_EQUAL, target: TARGET_CREATE, key: keyOf(name), create_revision: 0 }],
    success: [put],
    failure: [],
  });
  if (!response.succeeded) {
    const holder = await nameClaim(etcdSocket, name);
    throw new MicroK8sError(
      'MK_JOIN_NAME_TAKEN',
      `the name ${name} belongs to ${holder?.kind === 'worker' ? 'a worker' : 'a control-plane node'} of this cluster${holder?.address ? ` (${holder.address})` : ''}; a worker cannot take it`,
    );
  }
}

export async function releaseNodeName(etcdSocket: string, name: string): Promise<void> {
  await localEtcdCall(etcdSocket, 'KV', 'DeleteRange', { key: keyOf(name) });
}
