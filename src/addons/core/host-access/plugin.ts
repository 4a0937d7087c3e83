/**
 * host-access: the address put on every node's loopback interface (the argument, else
 * 10.0.1.1, MicroK8s's default) and its prefix length (a single address: /32 or /128).
 * Erasable TypeScript only: Node strips the types when it loads this file.
 */
import { isIP } from 'node:net';
import type { AddonArgs } from '../../args.js';
import type { NodeFacts } from '../../context.js';

const DEFAULT_ADDRESS = '10.0.1.1';

export function variables(_node: NodeFacts, args: AddonArgs): Record<string, string> {
  const given = args.ip;
  const address = typeof given === 'string' ? given : DEFAULT_ADDRESS;
  return { address, prefix: isIP(address) === 6 ? '128' : '32' };
}
