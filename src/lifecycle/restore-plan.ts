/**
 * Pure: what a restore deletes and puts. The keyspace becomes the archive's, except for two
 * records that guard the cluster's identities, which a restore must never roll back (an older
 * archive, or another cluster's, would otherwise reopen what they closed):
 *  - the highest member id ever issued (cluster/agent/member-ids.ts) is never lowered: an id
 *    handed out again would let a removed node's peer certificate pass as the new member;
 *  - the certificate records (/microk8s/certs/) of the cluster are kept, and a revoked
 *    certificate is never made valid again by an archive taken before its revocation;
 *  - the node names the cluster's nodes hold (cluster/workers/names.ts) stay theirs: a name
 *    claim deleted or handed to an archived node would let a joining worker take the name (and
 *    the kubelet identity) of a node that runs. The archive's other claims are added.
 * What the plan keeps is reported; the restored keyspace then differs from the archive there.
 */
import { HIGHEST_ID_KEY } from '../cluster/agent/member-ids.js';
import { NAME_PREFIX } from '../cluster/workers/names.js';
import { CERT_RECORD_PREFIX } from '../datastore/etcd/client-identity.js';

export interface Kv {
  /** base64, as in archives. */
  readonly key: string;
  readonly value: string;
}

export interface RestorePlan {
  /** Keys (base64) to delete. */
  readonly deletes: readonly string[];
  readonly puts: readonly Kv[];
  /** The cluster's own records kept over the archive (keys as text), and why. */
  readonly kept: readonly { key: string; why: string }[];
}

const HIGHEST_ID = HIGHEST_ID_KEY.toString('base64');
const text = (base64: string) => Buffer.from(base64, 'base64').toString('utf8');
const isCertRecord = (key: string) => text(key).startsWith(CERT_RECORD_PREFIX);
const isNameClaim = (key: string) => text(key).startsWith(NAME_PREFIX);

function memberId(value: string | undefined): number {
  const id = value === undefined ? 0 : Number(text(value));
  return Number.isSafeInteger(id) && id > 0 ? id : 0;
}

function revoked(value: string | undefined): boolean {
  if (value === undefined) return false;
  try {
    return (JSON.parse(text(value)) as { revokedAt?: unknown }).revokedAt !== undefined;
  } catch {
    return false;
  }
}

/** Why the cluster's current `key`=`current` stays over the archive's `archived`, if it does. */
function keepReason(key: string, current: string | undefined, archived: string | undefined) {
  if (current === undefined) return undefined;
  if (key === HIGHEST_ID && memberId(current) > memberId(archived))
    return `member ids up to ${memberId(current)} were issued: never lowered`;
  if (isCertRecord(key) && archived === undefined) return 'a certificate record of this cluster';
  if (isCertRecord(key) && revoked(current) && !revoked(archived))
    return 'a revoked certificate stays revoked';
  if (isNameClaim(key) && current !== archived) return "the name of one of this cluster's nodes";
  return undefined;
}

export function restorePlan(current: readonly Kv[], archived: readonly Kv[]): RestorePlan {
  const now = new Map(current.map((kv) => [kv.key, kv.value]));
  const wanted = new Map(archived.map((kv) => [kv.key, kv.value]));
  const kept: { key: string; why: string }[] = [];
  const keep = (key: string) => {
    const why = keepReason(key, now.get(key), wanted.get(key));
    if (why !== undefined) kept.push({ key: text(key), why });
    return why !== undefined;
  };
  const deletes = current.filter((kv) => !wanted.has(kv.key) && !keep(kv.key)).map((kv) => kv.key);
  const puts = archived.filter((kv) => now.get(kv.key) !== kv.value && !keep(kv.key));
  return { deletes, puts, kept };
}
