/**
 * The rbac addon: the API server's --authorization-mode on every control-plane node. Our nodes
 * start with Node,RBAC (src/cluster/kubernetes/render.ts), so rbac is enabled on a fresh node;
 * `disable rbac` sets AlwaysAllow (every authenticated request allowed), `enable rbac` puts
 * Node,RBAC back: the Node authorizer first (a kubelet's requests are decided without a walk
 * over the RBAC bindings) and the same value a fresh node has. Either way the change rolls over
 * the control plane one node at a time: a node's kube-apiserver is restarted and answers
 * /readyz before the next one is touched (the agents' /v1/configure), so the API never goes
 * down everywhere at once. There are no manifests: the addon is a setting.
 * Erasable TypeScript only: Node strips the types when it loads this file.
 */
import type { AddonContext } from '../../context.js';

const ARG = 'authorization-mode';
const RBAC_MODE = 'Node,RBAC';
const OPEN_MODE = 'AlwaysAllow';

function change(mode: string) {
  return { service: 'kube-apiserver' as const, set: { [ARG]: mode }, remove: [], everyNode: true };
}

/** The control-plane nodes whose API server's mode is not `mode` yet. */
async function nodesNotAt(ctx: AddonContext, mode: string): Promise<string[]> {
  const nodes = await ctx.serviceArgs('kube-apiserver');
  return nodes.filter((n) => n.flags[ARG]?.at(-1) !== mode).map((n) => n.node);
}

async function roll(ctx: AddonContext, mode: string, undoMode: string): Promise<void> {
  const pending = await nodesNotAt(ctx, mode);
  if (pending.length === 0) {
    ctx.progress(`rbac: every control-plane node's API server already has --${ARG}=${mode}`);
    return;
  }
  ctx.progress(
    `rbac: --${ARG}=${mode} on every control-plane node, one kube-apiserver restart at a time (each serves /readyz before the next)`,
  );
  await ctx.configureService(change(mode), change(undoMode));
}

export async function enable(ctx: AddonContext): Promise<void> {
  await roll(ctx, RBAC_MODE, OPEN_MODE);
}

export async function disable(ctx: AddonContext): Promise<void> {
  ctx.progress(
    `WARNING: rbac disabled means --${ARG}=${OPEN_MODE}: every authenticated user and service account may do anything, secrets included. \`microk8s enable rbac\` restores ${RBAC_MODE}.`,
  );
  await roll(ctx, OPEN_MODE, RBAC_MODE);
}
