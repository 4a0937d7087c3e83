/**
 * The highest member id the cluster ever issued, in the replicated keyspace: the member table
 * forgets a removed node, and an id handed out again would let the old node's peer certificate
 * (node-N.peer.microk8s) pass as the new member. Read before an id is chosen, raised after the
 * member is recorded (never lowered: a Txn compares the value it read).
 */
import { localEtcdCall } from '../local-etcd.js';

export const HIGHEST_ID_KEY = Buffer.from('/microk8s/members/highest-id');
const COMPARE_EQUAL = 0;
const TARGET_MOD = 2;
/** Raising the record races only with another agent's join: a few rounds settle it. */
const RAISE_ATTEMPTS = 5;

async function read(etcdSocket: string): Promise<{ id: number; modRevision: number }> {
  const response = await localEtcdCall<{ kvs: { value: Buffer; mod_revision: string | number }[] }>(
    etcdSocket,
    'KV',
    'Range',
    { key: HIGHEST_ID_KEY },
  );
  const kv = response.kvs[0];
  if (!kv) return { id: 0, modRevision: 0 };
  const id = Number(kv.value.toString('utf8'));
  return { id: Number.isSafeInteger(id) && id > 0 ? id : 0, modRevision: Number(kv.mod_revision) };
}

export async function highestMemberId(etcdSocket: string): Promise<number> {
  return (await read(etcdSocket)).id;
}

/** Record that `id` was issued (the record only grows). */
export async function recordMemberId(etcdSocket: string, id: number): Promise<void> {
  for (let attempt = 0; attempt < RAISE_ATTEMPTS; attempt++) {
    const current = await read(etcdSocket);
    if (current.id >= id) return;
    const response = await localEtcdCall<{ succeeded: boolean }>(etcdSocket, 'KV', 'Txn', {
      compare: [
        { result: COMPARE_EQUAL, target: TARGET_MOD, key: HIGHEST_ID_KEY, mod_revision: current.modRevision },
      ],
      success: [{ request_put: { key: HIGHEST_ID_KEY, value: Buffer.from(String(id)) } }],
      failure: [],
    });
    if (response.succeeded) return;
  }
}
