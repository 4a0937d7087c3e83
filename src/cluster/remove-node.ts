/**
 * `microk8s remove-node`: an operator removes a member of the datastore. Asked of any node; the
 * leader carries it out (src/datastore/node/roles-agent.ts). Without --force it is for a dead
 * member: the leader withdraws a request about a member it still hears from, and this reports
 * that as MK_MEMBER_ALIVE. A voter is replaced and demoted before it goes, and never in a way
 * that loses quorum.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { localStatus, requestRemoval } from './agent/local-datastore.js';
import { defaultDatastoreDir, localEtcdSocket } from './status.js';
import { revokeNodeCertificates } from './workers/certificates.js';
import { releaseNodeName } from './workers/names.js';
import { findWorker, forgetWorker } from './workers/registry.js';

export const REMOVE_LIMITS = { pollMs: 200, defaultTimeoutS: 60 } as const;

export interface RemoveOptions {
  readonly paths: Paths;
  readonly node: string;
  readonly force: boolean;
  readonly datastoreDir?: string;
  readonly timeoutS?: number;
}

/** NODE as an id, a node name (node3) or the host of its peer address. */
function resolve(node: string, members: readonly { id: number; peerAddress?: string }[]) {
  return members.find(
    (m) =>
      String(m.id) === node ||
      `node${m.id}` === node ||
      (m.peerAddress !== undefined && m.peerAddress.replace(/:\d+$/, '').replace(/^\[|\]$/g, '') === node),
  );
}

export type RemoveResult =
  | { readonly kind: 'member'; readonly id: number; readonly removed: true }
  | {
      readonly kind: 'worker';
      readonly hostname: string;
      readonly address: string;
      readonly removed: true;
      /** The serials of its certificates, revoked now (the datastore and the agents refuse them). */
      readonly revoked: readonly string[];
    };

export async function removeNode(options: RemoveOptions): Promise<RemoveResult> {
  const dir = options.datastoreDir ?? defaultDatastoreDir(options.paths);
  const report = await localStatus(dir);
  const target = resolve(options.node, report.members);
  if (!target) {
    // Not a datastore member: a worker the cluster admitted, or nobody.
    const socket = localEtcdSocket(options.paths, dir);
    const worker = await findWorker(socket, options.node);
    if (worker) {
      // Revoked first: a removal that stops half-way leaves no usable certificate behind.
      const revoked = await revokeNodeCertificates(socket, worker.hostname);
      if (await forgetWorker(socket, worker.hostname)) {
        await releaseNodeName(socket, worker.hostname);
        return { kind: 'worker', hostname: worker.hostname, address: worker.address, removed: true, revoked };
      }
    }
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `${options.node} is neither a member nor a worker of this cluster; members: ${report.members.map((m) => `node${m.id}`).join(', ')}`,
    );
  }
  if (target.id === report.id) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      'this is the local node: run `microk8s leave` on it instead',
    );
  }
  const alive = () =>
    new MicroK8sError(
      'MK_MEMBER_ALIVE',
      `node${target.id} is alive and a member: run \`microk8s leave\` on it, or remove it with --force`,
    );
  // The leader knows at once; elsewhere the leader answers by withdrawing the request.
  const known = report.members.find((m) => m.id === target.id);
  if (!options.force && report.state === 'leader' && known?.online) throw alive();
  await requestRemoval(dir, target.id, options.force);
  const deadline = Date.now() + (options.timeoutS ?? REMOVE_LIMITS.defaultTimeoutS) * 1000;
  // The request resolved once this node applied it (a proposal resolves at its local apply), so
  // from here a member whose removal reads 'no' again is one the leader withdrew: alive. (Waiting
  // to see 'if-offline' first missed a withdrawal that landed between two polls.)
  while (Date.now() < deadline) {
    const now = await localStatus(dir);
    const member = now.members.find((m) => m.id === target.id);
    if (!member) return { kind: 'member', id: target.id, removed: true };
    if (member.removal === 'no') throw alive();
    await sleep(REMOVE_LIMITS.pollMs);
  }
  throw new MicroK8sError(
    'MK_TIMEOUT',
    `node${target.id} was not removed within ${options.timeoutS ?? REMOVE_LIMITS.defaultTimeoutS} s`,
  );
}
