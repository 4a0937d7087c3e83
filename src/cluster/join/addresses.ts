/**
 * The addresses other machines can reach this one at, for the `microk8s join ...` lines that
 * add-node prints and for the certificates' SANs. Pure: the interface table is passed in
 * (os.networkInterfaces() in production).
 *
 * Loopback is left out (another machine cannot use it) and so is link-local (fe80::/10,
 * 169.254/16): it needs a zone to be dialled and changes with the link.
 */
import type { NetworkInterfaceInfo } from 'node:os';

export interface UsableAddress {
  readonly address: string;
  readonly family: 'IPv4' | 'IPv6';
  readonly interface: string;
}

function excluded(info: NetworkInterfaceInfo): boolean {
  if (info.internal) return true;
  const address = info.address.toLowerCase();
  if (info.family === 'IPv4') return address.startsWith('127.') || address.startsWith('169.254.');
  return address === '::1' || address === '::' || /^fe[89ab][0-9a-f]:/.test(address);
}

/** IPv4 first (shorter to type, and what most users expect to see first), then IPv6; no duplicates. */
export function usableAddresses(
  interfaces: Readonly<Record<string, readonly NetworkInterfaceInfo[] | undefined>>,
): UsableAddress[] {
  const seen = new Set<string>();
  const out: UsableAddress[] = [];
  for (const [name, infos] of Object.entries(interfaces)) {
    for (const info of infos ?? []) {
      if (excluded(info) || seen.has(info.address)) continue;
      seen.add(info.address);
      out.push({ address: info.address, family: info.family, interface: name });
    }
  }
  return [...out.filter((a) => a.family === 'IPv4'), ...out.filter((a) => a.family === 'IPv6')];
}
