/**
 * Choosing k members spread across failure domains: the one selection routine the roles planner
 * uses for voters and for standbys.
 *
 * Objective, in lexicographic order:
 *  1. spread: the most distinct failure domains, then the most balanced counts (the smallest sum
 *     of squared per-domain counts);
 *  2. stability: keep as many `retained` candidates (those already in the role) as possible;
 *  3. the smallest total weight;
 *  then, for determinism only, lower ids.
 *
 * Water-filling is exact for this objective: minimising a sum of squares under per-domain caps
 * is separable and convex, so repeatedly adding one member to the domain with the fewest chosen
 * members is optimal, and it also maximises the number of distinct domains. The only freedom
 * left is which of the domains tied at the lowest count gets the next member; every domain's
 * candidates are sorted by (retained, weight, id), so comparing the next candidate of each tied
 * domain picks the best set for (2) and (3) as well. `forced` members (the leader; members that
 * must stay) are counted first, as lower bounds per domain.
 */

import type { NodeId } from '../../datastore/raft/types.js';
import { assert } from '../../lib/assert.js';

export interface SpreadCandidate {
  readonly id: NodeId;
  readonly domain: string;
  readonly weight: number;
  /** Already holds the role being filled: keeping it costs no change. */
  readonly retained: boolean;
}

/** Better first: retained, then lower weight, then lower id. */
export function compareCandidates(a: SpreadCandidate, b: SpreadCandidate): number {
  if (a.retained !== b.retained) return a.retained ? -1 : 1;
  if (a.weight !== b.weight) return a.weight - b.weight;
  return a.id - b.id;
}

interface DomainQueue {
  readonly domain: string;
  readonly members: SpreadCandidate[];
  taken: number;
}

/**
 * Picks min(k, candidates) members: all of `forced` (which must be candidates, at most k), then
 * the rest by the objective above. Returns ids in the order they were chosen.
 */
export function pickSpread(
  candidates: readonly SpreadCandidate[],
  forced: ReadonlySet<NodeId>,
  k: number,
): NodeId[] {
  assert(forced.size <= k, () => `${forced.size} forced members do not fit in ${k} seats`);
  const byDomain = new Map<string, SpreadCandidate[]>();
  for (const c of candidates) {
    const list = byDomain.get(c.domain);
    if (list) list.push(c);
    else byDomain.set(c.domain, [c]);
  }
  const queues: DomainQueue[] = [];
  for (const [domain, members] of byDomain) {
    members.sort((a, b) => {
      const fa = forced.has(a.id);
      if (fa !== forced.has(b.id)) return fa ? -1 : 1;
      return compareCandidates(a, b);
    });
    queues.push({ domain, members, taken: 0 });
  }
  const chosen: NodeId[] = [];
  for (const q of queues) {
    while (q.taken < q.members.length && forced.has(q.members[q.taken]!.id)) {
      chosen.push(q.members[q.taken]!.id);
      q.taken++;
    }
  }
  assert(chosen.length === forced.size, 'every forced member must be a candidate');
  while (chosen.length < k) {
    let best: DomainQueue | undefined;
    for (const q of queues) {
      if (q.taken >= q.members.length) continue;
      if (
        best === undefined ||
        q.taken < best.taken ||
        (q.taken === best.taken && compareCandidates(q.members[q.taken]!, best.members[best.taken]!) < 0)
      ) {
        best = q;
      }
    }
    if (best === undefined) break;
    chosen.push(best.members[best.taken]!.id);
    best.taken++;
  }
  return chosen;
}
