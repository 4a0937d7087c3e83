/**
 * Has this node's address gone, and if so, which of the machine's addresses replaces it? Pure:
 * the interface table is passed in (os.networkInterfaces() in production), and so is what the
 * caller remembers of where the address was last seen.
 *
 * The configured address is still here when an interface carries it, or when it lies in the
 * prefix of a loopback interface (Linux answers all of 127.0.0.0/8 on `lo`: a lab or test node
 * on 127.0.53.2 is local although the table only lists 127.0.0.1). Otherwise it is gone and the
 * new one is chosen among the usable addresses of the same family (no loopback, no link-local,
 * none of the pod network's interfaces) by these rules, in order:
 *   1. the only candidate;
 *   2. the only candidate on the interface the old address was last seen on;
 *   3. the only candidate whose own subnet contains the old address (a new lease in the same
 *      network: knowable without any history);
 * else the change is ambiguous and nothing is done: picking "the first IPv4" could move the
 * node onto a bridge or a second network card its peers cannot reach, which is worse than
 * staying put and saying so. No candidate at all (the address is being replaced: deleted, the
 * new one not yet added) is reported as missing, and also left alone.
 */
import { BlockList, isIP } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';
import { MicroK8sError } from '../../lib/errors.js';
import { usableAddresses } from '../join/addresses.js';
import { canonicalIp } from '../pki/validity.js';

export type InterfaceTable = Readonly<Record<string, readonly NetworkInterfaceInfo[] | undefined>>;

/** Where the configured address was last seen (remembered by the watcher between checks). */
export interface LastSeen {
  readonly interface: string;
}

export type ChangeRule = 'only-candidate' | 'same-interface' | 'same-subnet' | 'operator';

export type AddressDecision =
  | { readonly kind: 'unchanged'; readonly address: string; readonly interface: string }
  | {
      readonly kind: 'changed';
      readonly from: string;
      readonly to: string;
      readonly interface: string;
      readonly rule: ChangeRule;
    }
  | { readonly kind: 'ambiguous'; readonly from: string; readonly candidates: readonly string[] }
  | { readonly kind: 'missing'; readonly from: string }
  /** Nothing to follow: no configured address, a wildcard or a name. */
  | { readonly kind: 'not-watched'; readonly reason: string };

/**
 * Interfaces the pod network and container runtimes create on a node: their addresses belong to
 * the node but are never the one its peers reach it at.
 */
const POD_NETWORK_INTERFACES = /^(cni|cali|flannel|vxlan|docker|veth|tunl|kube-ipvs|cilium|weave)/;

function inPrefix(cidr: string | null | undefined, address: string): boolean {
  if (!cidr) return false;
  const slash = cidr.lastIndexOf('/');
  const network = cidr.slice(0, slash);
  const prefix = Number(cidr.slice(slash + 1));
  const family = isIP(network);
  if (family === 0 || family !== isIP(address) || !Number.isInteger(prefix)) return false;
  const list = new BlockList();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  list.addSubnet(network, prefix, type);
  return list.check(address, type);
}

/** The interface that makes `address` local, if any. */
function holder(table: InterfaceTable, address: string): string | undefined {
  for (const [name, infos] of Object.entries(table)) {
    for (const info of infos ?? []) {
      if (canonicalIp(info.address) === address) return name;
      if (info.internal && inPrefix(info.cidr, address)) return name;
    }
  }
  return undefined;
}

function cidrOf(table: InterfaceTable, name: string, address: string): string | undefined {
  const wanted = canonicalIp(address);
  return table[name]?.find((info) => canonicalIp(info.address) === wanted)?.cidr ?? undefined;
}

export function decideAddress(
  configured: string | undefined,
  table: InterfaceTable,
  lastSeen?: LastSeen,
): AddressDecision {
  if (configured === undefined) return { kind: 'not-watched', reason: 'no configured address' };
  const family = isIP(configured);
  if (family === 0) return { kind: 'not-watched', reason: `${configured} is not an IP address` };
  const from = canonicalIp(configured);
  if (from === '0.0.0.0' || from === '::') return { kind: 'not-watched', reason: 'a wildcard address' };
  const here = holder(table, from);
  if (here !== undefined) return { kind: 'unchanged', address: from, interface: here };

  const candidates = usableAddresses(table).filter(
    (a) => isIP(a.address) === family && !POD_NETWORK_INTERFACES.test(a.interface),
  );
  const pick = (c: (typeof candidates)[number], rule: ChangeRule): AddressDecision => ({
    kind: 'changed',
    from,
    to: canonicalIp(c.address),
    interface: c.interface,
    rule,
  });
  if (candidates.length === 0) return { kind: 'missing', from };
  if (candidates.length === 1) return pick(candidates[0]!, 'only-candidate');
  const onSame = candidates.filter((c) => c.interface === lastSeen?.interface);
  if (onSame.length === 1) return pick(onSame[0]!, 'same-interface');
  // Among those on the same interface when there are several there, else among all.
  const pool = onSame.length > 1 ? onSame : candidates;
  const sameSubnet = pool.filter((c) => inPrefix(cidrOf(table, c.interface, c.address), from));
  if (sameSubnet.length === 1) return pick(sameSubnet[0]!, 'same-subnet');
  return { kind: 'ambiguous', from, candidates: pool.map((c) => canonicalIp(c.address)) };
}

/**
 * The operator names the new address (`refresh-address --address`, for an ambiguous change): it
 * must be one of this machine's, and the configured one need not be gone.
 */
export function decideGiven(
  configured: string | undefined,
  table: InterfaceTable,
  given: string,
): AddressDecision {
  if (isIP(given) === 0) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `--address: ${JSON.stringify(given)} is not an IP address`,
    );
  }
  const to = canonicalIp(given);
  const at = holder(table, to);
  if (at === undefined) {
    throw new MicroK8sError('MK_INVALID_ARGUMENT', `--address: ${to} is not an address of this machine`);
  }
  if (configured !== undefined && canonicalIp(configured) === to) {
    return { kind: 'unchanged', address: to, interface: at };
  }
  if (configured === undefined || isIP(configured) === 0) {
    return { kind: 'not-watched', reason: 'no configured address' };
  }
  return { kind: 'changed', from: canonicalIp(configured), to, interface: at, rule: 'operator' };
}
