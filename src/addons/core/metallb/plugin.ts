/**
 * The metallb addon: MetalLB in L2 mode with one address pool from the argument
 * (`enable metallb:10.0.0.240-10.0.0.250`; ranges or CIDRs, comma-separated, checked by
 * the ip-ranges argument type before anything is applied). Its CRDs are applied and
 * established first, then the programs, then the pool and its L2Advertisement, which were
 * checked against those CRDs' schemas when the manifests were rendered.
 * Erasable TypeScript only: Node strips the types when it loads this file.
 */
import type { AddonArgs } from '../../args.js';
import type { AddonContext, NodeFacts } from '../../context.js';
import type { KubeObject } from '../../kube/object.js';

/** Hang guard of the API server's establishing of a CRD (it takes a second or two). */
const ESTABLISH_TIMEOUT_MS = 60_000;
const POLL_MS = 250;

export function variables(_node: NodeFacts, args: AddonArgs): Record<string, string> {
  // Required for an enable (no default: a pool nobody chose could take others' addresses); a
  // disable names the pool only to delete it.
  const ranges = Array.isArray(args.addresses) ? args.addresses : [];
  return { addresses: JSON.stringify(ranges) };
}

function isCrd(object: KubeObject): boolean {
  return object.kind === 'CustomResourceDefinition';
}

function isCustom(object: KubeObject): boolean {
  return object.apiVersion.startsWith('metallb.io/');
}

async function waitEstablished(ctx: AddonContext, crds: readonly KubeObject[]): Promise<void> {
  for (const crd of crds) {
    await ctx.step(`wait for ${crd.metadata.name} to be established`, async () => {
      const deadline = Date.now() + ESTABLISH_TIMEOUT_MS;
      for (;;) {
        const live = (await ctx.kube.get(crd)) as
          | { status?: { conditions?: { type: string; status: string }[] } }
          | undefined;
        if (live?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
        if (Date.now() > deadline) throw new Error(`not established within ${ESTABLISH_TIMEOUT_MS / 1000} s`);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    });
  }
}

export async function enable(ctx: AddonContext): Promise<void> {
  const crds = ctx.manifests.filter(isCrd);
  const programs = ctx.manifests.filter((o) => !isCrd(o) && !isCustom(o));
  const pool = ctx.manifests.filter(isCustom);
  await ctx.apply(crds);
  await waitEstablished(ctx, crds);
  await ctx.apply(programs);
  await ctx.waitRollout(programs);
  await ctx.apply(pool);
  ctx.progress('metallb: LoadBalancer Services get addresses from the pool, announced over L2 (ARP/NDP)');
}

export async function disable(ctx: AddonContext): Promise<void> {
  // Newest first: the pool (Services lose their addresses), the programs, then the CRDs.
  await ctx.remove(ctx.manifests);
}
