/**
 * The dns addon: CoreDNS's objects, then the kubelet of every node pointed at it
 * (--cluster-dns, --cluster-domain), then the wait for CoreDNS to serve.
 * Erasable TypeScript only: Node strips the types when it loads this file.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { AddonArgs } from '../../args.js';
import type { AddonContext, NodeFacts } from '../../context.js';

const FALLBACK_RESOLVERS = ['8.8.8.8', '8.8.4.4'];

/** The node's own resolvers, minus loopback ones (they would loop back into CoreDNS). */
function nodeResolvers(): string[] {
  let text = '';
  try {
    text = readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    const ip = match?.[1];
    if (ip === undefined || isIP(ip) === 0) continue;
    if (ip.startsWith('127.') || ip === '::1') continue;
    out.push(ip);
  }
  return out;
}

export function variables(node: NodeFacts, args: AddonArgs): Record<string, string> {
  const given = args.upstream;
  const upstream = Array.isArray(given) ? given : nodeResolvers();
  return {
    upstream: (upstream.length > 0 ? upstream : FALLBACK_RESOLVERS).join(' '),
    clusterDns: node.clusterDns,
    clusterDomain: node.clusterDomain,
  };
}

function kubeletDns(ctx: AddonContext) {
  return { 'cluster-dns': ctx.node.clusterDns, 'cluster-domain': ctx.node.clusterDomain };
}

export async function enable(ctx: AddonContext): Promise<void> {
  await ctx.apply(ctx.manifests);
  await ctx.configureService(
    { service: 'kubelet', set: kubeletDns(ctx), remove: [] },
    { service: 'kubelet', set: {}, remove: Object.keys(kubeletDns(ctx)) },
  );
  await ctx.waitRollout();
}

export async function disable(ctx: AddonContext): Promise<void> {
  await ctx.remove(ctx.manifests);
  await ctx.configureService({ service: 'kubelet', set: {}, remove: Object.keys(kubeletDns(ctx)) });
}
