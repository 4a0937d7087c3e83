/**
 * The registry addon: the distribution registry on a claim of the hostpath StorageClass
 * (the hostpath-storage dependency), reached at localhost:32000 through its NodePort. Every
 * node's containerd already trusts that address over plain HTTP (rendered with the node's
 * containerd config, src/cluster/kubernetes/render.ts), so nothing is configured on the nodes.
 * Erasable TypeScript only: Node strips the types when it loads this file.
 */
import type { AddonArgs } from '../../args.js';
import type { AddonContext, NodeFacts } from '../../context.js';

const DEFAULT_SIZE = '20Gi';

export function variables(_node: NodeFacts, args: AddonArgs): Record<string, string> {
  return { size: typeof args.size === 'string' ? args.size : DEFAULT_SIZE };
}

export async function enable(ctx: AddonContext): Promise<void> {
  await ctx.apply(ctx.manifests);
  await ctx.waitRollout();
  ctx.progress('registry: push images to localhost:32000 (plain HTTP) on any node');
}

export async function disable(ctx: AddonContext): Promise<void> {
  // The claim goes with the objects; the StorageClass's reclaim policy (Delete) has the
  // provisioner remove the registry's folder.
  await ctx.remove(ctx.manifests);
}
