/** A node's addresses for its certificates: the one it is reached at first, then every usable one. */
import { networkInterfaces } from 'node:os';
import { usableAddresses } from '../join/addresses.js';

export function nodeAddresses(primary: string): string[] {
  return [...new Set([primary, ...usableAddresses(networkInterfaces()).map((a) => a.address)])];
}
