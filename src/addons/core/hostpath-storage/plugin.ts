/**
 * The hostpath-storage addon: volumes are folders under <SNAP_COMMON>/default-storage on the
 * node that runs the provisioner. `disable --purge` also removes that folder (every volume's
 * data, on this node) once the provisioner is gone.
 * Erasable TypeScript only: Node strips the types when it loads this file.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AddonArgs } from '../../args.js';
import type { AddonContext, NodeFacts } from '../../context.js';

function storageDir(node: NodeFacts): string {
  return join(node.paths.common, 'default-storage');
}

export function variables(node: NodeFacts): Record<string, string> {
  return { storageDir: storageDir(node) };
}

export async function enable(ctx: AddonContext): Promise<void> {
  await ctx.apply(ctx.manifests);
  await ctx.waitRollout();
}

export async function disable(
  ctx: AddonContext,
  args: AddonArgs & { readonly purge?: string },
): Promise<void> {
  await ctx.remove(ctx.manifests);
  if (args.purge === 'true') {
    await ctx.step('purge the volumes folder', async () =>
      rmSync(storageDir(ctx.node), { recursive: true, force: true }),
    );
    ctx.progress(`hostpath-storage: removed ${storageDir(ctx.node)}`);
  }
}
