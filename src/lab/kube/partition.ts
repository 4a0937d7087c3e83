/**
 * A network partition of the Kubernetes lab, as a split between two data centres: the host ends
 * of the cut-off nodes' veths move from the lab's bridge to a second bridge of their own. Each
 * side still reaches its own nodes; nothing crosses (node traffic, pod traffic, ARP), and the
 * packets are dropped silently, as on a cut link, so connections stall rather than fail. The
 * cut-off side also loses the lab bridge's .254 (the host), as a data centre loses its uplink;
 * commands still reach its nodes from inside their namespaces. Healing plugs every veth back into
 * the lab's bridge. The kernel's bridge membership is the one record of a partition: status reads
 * it back rather than keeping a copy.
 */
import { execFileSync } from 'node:child_process';
import { MicroK8sError } from '../../lib/errors.js';
import { bridgeOf, cutBridgeOf, hostVethOf, ip, type LabNetworkSpec } from './network.js';

const COMMAND_TIMEOUT_MS = 10_000;

/** The bridge a host veth is plugged into now, or undefined when the link is gone. */
function masterOf(link: string): string | undefined {
  try {
    const out = execFileSync('ip', ['-j', 'link', 'show', 'dev', link], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: COMMAND_TIMEOUT_MS,
    });
    return (JSON.parse(out) as { master?: string }[])[0]?.master;
  } catch {
    return undefined;
  }
}

function cutBridgeExists(spec: LabNetworkSpec): boolean {
  try {
    execFileSync('ip', ['link', 'show', 'dev', cutBridgeOf(spec)], {
      stdio: 'ignore',
      timeout: COMMAND_TIMEOUT_MS,
    });
    return true;
  } catch {
    return false;
  }
}

/** The indexes of the nodes cut off from the rest now (empty: no partition). */
export function cutOffNodes(spec: LabNetworkSpec): number[] {
  const cut = cutBridgeOf(spec);
  return Array.from({ length: spec.size }, (_, i) => i).filter((i) => masterOf(hostVethOf(spec, i)) === cut);
}

/**
 * Cuts `indexes` off from the other nodes (and from the host). A partition already in place is
 * replaced: one split at a time, as the lab's scenarios need.
 */
export function partitionNetwork(spec: LabNetworkSpec, indexes: readonly number[]): void {
  const unique = [...new Set(indexes)];
  if (unique.length === 0 || unique.length >= spec.size) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `a partition cuts 1 to ${spec.size - 1} of the ${spec.size} nodes off from the rest`,
    );
  }
  if (!cutBridgeExists(spec)) {
    ip('link', 'add', cutBridgeOf(spec), 'type', 'bridge');
    ip('link', 'set', cutBridgeOf(spec), 'up');
  }
  for (let i = 0; i < spec.size; i++) {
    const target = unique.includes(i) ? cutBridgeOf(spec) : bridgeOf(spec);
    if (masterOf(hostVethOf(spec, i)) !== target) ip('link', 'set', hostVethOf(spec, i), 'master', target);
  }
}

/** Plugs every node back into the lab's bridge and removes the second bridge. */
export function healNetwork(spec: LabNetworkSpec): number[] {
  const healed = cutOffNodes(spec);
  for (const i of healed) ip('link', 'set', hostVethOf(spec, i), 'master', bridgeOf(spec));
  if (cutBridgeExists(spec)) ip('link', 'del', cutBridgeOf(spec));
  return healed;
}
