/**
 * Address ranges as MetalLB's IPAddressPool takes them: `FIRST-LAST` (one family, FIRST <=
 * LAST) or a CIDR (`10.0.0.0/24`, host bits zero). Checked here so that a bad range is refused
 * before anything is applied, with the reason, rather than by a controller later.
 */
import { isIP } from 'node:net';

export interface IpRange {
  /** As the user wrote it, normalised to MetalLB's spelling. */
  readonly text: string;
  readonly family: 4 | 6;
  readonly first: bigint;
  readonly last: bigint;
}

/** An address as a number (IPv4: 32 bits, IPv6: 128 bits); undefined when it is not one. */
export function ipToBigInt(ip: string): { family: 4 | 6; value: bigint } | undefined {
  const family = isIP(ip);
  if (family === 4) {
    return { family, value: ip.split('.').reduce((n, part) => (n << 8n) | BigInt(Number(part)), 0n) };
  }
  if (family !== 6) return undefined;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = ipToBigInt(v4[1]!)!.value;
    text = `${text.slice(0, -v4[1]!.length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(zeros).fill('0'), ...right];
  return { family, value: groups.reduce((n, g) => (n << 16n) | BigInt(Number.parseInt(g, 16)), 0n) };
}

/** Why `text` is not a range, or the range. */
export function parseIpRange(text: string): IpRange | string {
  const slash = text.indexOf('/');
  if (slash !== -1) {
    const ip = ipToBigInt(text.slice(0, slash));
    const bitsText = text.slice(slash + 1);
    if (!ip) return `'${text.slice(0, slash)}' is not an IP address`;
    const width = ip.family === 4 ? 32 : 128;
    const bits = /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : Number.NaN;
    if (!(bits >= 0 && bits <= width)) return `'/${bitsText}' is not a prefix length of 0..${width}`;
    const hostBits = BigInt(width - bits);
    const hostMask = (1n << hostBits) - 1n;
    if ((ip.value & hostMask) !== 0n) return `'${text}' has host bits set (a CIDR names its first address)`;
    return { text, family: ip.family, first: ip.value, last: ip.value | hostMask };
  }
  const dash = text.indexOf('-');
  if (dash === -1) return `'${text}' is neither FIRST-LAST nor a CIDR`;
  const firstText = text.slice(0, dash).trim();
  const lastText = text.slice(dash + 1).trim();
  const first = ipToBigInt(firstText);
  const last = ipToBigInt(lastText);
  if (!first) return `'${firstText}' is not an IP address`;
  if (!last) return `'${lastText}' is not an IP address`;
  if (first.family !== last.family) return `'${text}' mixes IPv4 and IPv6`;
  if (first.value > last.value) return `'${text}' ends before it starts`;
  return { text: `${firstText}-${lastText}`, family: first.family, first: first.value, last: last.value };
}

/** True when two ranges share an address. */
export function rangesOverlap(a: IpRange, b: IpRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}
