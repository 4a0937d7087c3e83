/**
 * `microk8s config`: the admin kubeconfig, pointing at this node's address (what another machine
 * uses) or, with loopback, at 127.0.0.1 as the node's own components do. The API server
 * certificate names both.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse, stringify } from 'yaml';
import { MicroK8sError } from '../../lib/errors.js';
import type { Paths } from '../../lib/paths.js';
import { NETWORK } from '../../services/upstream/layout.js';
import { configuredAddress } from '../address-change/configured.js';
import { agentContext } from '../agent/context.js';

interface KubeconfigDoc {
  clusters?: { cluster?: { server?: string } }[];
}

export function adminKubeconfig(paths: Paths, options: { loopback?: boolean } = {}): string {
  const ctx = agentContext(paths);
  const file = ctx.certs.kubeconfigs.admin;
  if (!existsSync(file)) {
    throw new MicroK8sError('MK_NO_CREDENTIALS', `this node has no admin kubeconfig (${file})`, { file });
  }
  const text = readFileSync(file, 'utf8');
  const address = options.loopback ? undefined : configuredAddress(ctx);
  if (address === undefined) return text;
  const host = isIP(address) === 6 ? `[${address}]` : address;
  const doc = parse(text) as KubeconfigDoc;
  for (const entry of doc.clusters ?? []) {
    if (entry.cluster) entry.cluster.server = `https://${host}:${NETWORK.apiServerPort}`;
  }
  return stringify(doc);
}
