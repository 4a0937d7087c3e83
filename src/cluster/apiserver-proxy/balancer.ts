/**
 * Which healthy upstream gets the next connection. A pure choice over the candidates and a turn
 * counter, so it is easy to reason about: round-robin takes them in turn; least-connections takes
 * the one with the fewest active connections, ties broken in turn so equal upstreams share load.
 */
import type { BalanceStrategy } from './limits.js';
import type { Upstream } from './upstreams.js';

export function pickUpstream(
  candidates: readonly Upstream[],
  strategy: BalanceStrategy,
  turn: number,
): Upstream | undefined {
  const n = candidates.length;
  if (n === 0) return undefined;
  const start = turn % n;
  if (strategy === 'round-robin') return candidates[start];
  let best: Upstream | undefined;
  for (let i = 0; i < n; i++) {
    const u = candidates[(start + i) % n]!;
    if (best === undefined || u.active < best.active) best = u;
  }
  return best;
}
