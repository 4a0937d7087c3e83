/**
 * The helm addon: checks that this node has the helm binary (it answers `helm version`), then
 * marks helm enabled cluster-wide (helm.yaml). `microk8s helm ...` runs that binary with the
 * node's admin kubeconfig (src/addons/helm.ts).
 * Erasable TypeScript only: Node strips the types when it loads this file.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AddonContext } from '../../context.js';

const VERSION_TIMEOUT_MS = 30_000;

export async function enable(ctx: AddonContext): Promise<void> {
  const helm = join(ctx.node.upstreamBin, 'helm');
  const { stdout } = await ctx.step('run helm version', () =>
    promisify(execFile)(helm, ['version', '--short'], { timeout: VERSION_TIMEOUT_MS }),
  );
  ctx.progress(`helm: ${helm} is ${stdout.trim()}`);
  await ctx.apply(ctx.manifests);
}
