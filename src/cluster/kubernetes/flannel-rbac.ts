/**
 * What flanneld needs beyond the kubelet's own rights. flanneld runs with the kubelet's identity
 * (system:node:NAME): the Node authorizer lets it read its own Node and patch Node status (where
 * flannel records its lease), but since Kubernetes 1.32 (node authorization with selectors) no
 * longer lets a node list or watch the others ("node 'NAME' cannot read all nodes, only its own
 * Node object"), and flannel's kube subnet manager must see every Node to route to their pod
 * subnets. So the control plane grants the group system:nodes read access to Node objects (get,
 * list, watch: what kubelets had before 1.32), and no write. Applied server-side (idempotent)
 * with the admin identity, before each flanneld start
 * on a control-plane node; bounded, and a failure is a warning (in a minority partition the
 * write cannot commit, and the grant made earlier still holds).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientTls } from '../../services/upstream/daemons.js';
import { localApiRequest } from './local-api.js';

export const FLANNEL_NODE_READER = 'microk8s:flannel-node-reader';
const FIELD_MANAGER = 'microk8s';
const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const ATTEMPTS = 10;
const RETRY_EVERY_MS = 2_000;

const OBJECTS = [
  {
    path: `${RBAC}/clusterroles/${FLANNEL_NODE_READER}`,
    object: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: FLANNEL_NODE_READER },
      rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }],
    },
  },
  {
    path: `${RBAC}/clusterrolebindings/${FLANNEL_NODE_READER}`,
    object: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: FLANNEL_NODE_READER },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: FLANNEL_NODE_READER },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:nodes' }],
    },
  },
] as const;

/** The grant applied; returns warnings (empty when both objects are in place). */
export async function ensureFlannelNodeReader(tls: ClientTls): Promise<string[]> {
  let last = '';
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    last = '';
    for (const { path, object } of OBJECTS) {
      const answer = await localApiRequest(tls, {
        method: 'PATCH',
        path: `${path}?fieldManager=${FIELD_MANAGER}&force=true`,
        body: JSON.stringify(object),
        contentType: 'application/apply-patch+yaml',
      });
      if (answer?.status !== 200 && answer?.status !== 201) {
        last = `${object.kind} ${FLANNEL_NODE_READER}: ${answer ? `HTTP ${answer.status} ${answer.body.slice(0, 200)}` : 'no answer'}`;
        break;
      }
    }
    if (last === '') return [];
    if (attempt < ATTEMPTS) await sleep(RETRY_EVERY_MS);
  }
  return [`could not grant nodes read access to Node objects for flanneld (${last})`];
}
