/**
 * The registry addon: the distribution registry on a claim of the hostpath StorageClass
 * (the hostpath-storage dependency), reached at localhost:32000 through its NodePort. Every
 * node's containerd already trusts that address over plain HTTP (rendered with the node's
 * containerd config, src/cluster/kubernetes/render.ts), so nothing is configured on the nodes.
 * Erasable TypeScript only: Node strips the types when it loads this file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddonArgs } from '../../args.js';
import type { AddonContext, NodeFacts } from '../../context.js';

const DEFAULT_SIZE = '20Gi';

export function variables(_node: NodeFacts, args: AddonArgs): Record<string, string> {
  return { size: typeof args.size === 'string' ? args.size : DEFAULT_SIZE };
}

/**
 * A node set up before containerd's config named config_path keeps its file (it may hold an
 * operator's edits): say so, since its pods could not pull from the registry.
 */
function checkThisNode(ctx: AddonContext): void {
  let config = '';
  try {
    config = readFileSync(join(ctx.node.paths.args, 'containerd.toml'), 'utf8');
  } catch {
    return;
  }
  if (!/^\s*config_path\s*=/m.test(config)) {
    ctx.progress(
      "registry: warning: this node's containerd.toml has no config_path, so its containerd does not " +
        'read certs.d/localhost:32000/hosts.toml; add `config_path = "<args>/certs.d"` under ' +
        '[plugins."io.containerd.cri.v1.images".registry] and restart containerd',
    );
  }
}

export async function enable(ctx: AddonContext): Promise<void> {
  checkThisNode(ctx);
  await ctx.apply(ctx.manifests);
  await ctx.waitRollout();
  ctx.progress('registry: push images to localhost:32000 (plain HTTP) on any node');
}

export async function disable(ctx: AddonContext): Promise<void> {
  // The claim goes with the objects; the StorageClass's reclaim policy (Delete) has the
  // provisioner remove the registry's folder.
  await ctx.remove(ctx.manifests);
}
