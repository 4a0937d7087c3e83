/**
 * The roles planner: a pure function from the members' state, as the leader sees it, to a safe,
 * ordered list of role changes. The leader runs it every few seconds, proposes ONLY the first
 * change (the core takes one membership change at a time) and plans again once it has committed.
 * No I/O, no clock, no randomness: the same input always gives the same plan.
 *
 * How it works: first the desired end state is chosen (`desiredRoles`), then the changes that
 * lead there are ordered so that every prefix is safe (`planRoles`). The rules, by priority:
 *
 *  R1 Quorum. Every change, applied in order from the input, leaves at least a quorum of the new
 *     voter set online (equivalently: more online than offline voters), and the first change also
 *     passes the core's own checks (`Raft.unsafeConfChange`). A change that would not is never
 *     emitted. Stricter than the core: when the input itself has no online quorum the plan is []
 *     (a change takes effect when it commits, which needs the current voters' quorum, and such a
 *     leader is about to step down through check-quorum anyway).
 *  R2 The leader is never demoted or removed: it is always kept as a voter. This costs no spread:
 *     a best-spread voter set that contains the leader always exists (swap it for a voter of its
 *     own domain, or for one of the most crowded domain), so no transfer hint is needed.
 *  R3 A dead voter is replaced before it goes: an online caught-up standby is promoted first, then
 *     the offline voter is demoted to spare (not removed: it may come back). With no such standby
 *     the offline voter stays (R7) and the standby target grows to cover it, so an online spare
 *     starts replicating as a standby and is promoted on a later round once caught up.
 *  R4 Targets: `voters` voters (default 3), never more than the members, and odd: an even count
 *     is rounded down (2 members: 1 voter + 1 standby; 4 members: 3 voters + 1 standby; a
 *     configured 4 acts as 3). Then `standbys` standbys (default 3), at least as many as the voter
 *     seats not held by an online voter; the rest are spares.
 *  R5 Spread: voters are chosen first, across failure domains (most distinct domains, then the
 *     most balanced counts), then standbys the same way among the rest; within equal spread
 *     lower weight, then lower id (see spread.ts).
 *  R6 Only online members are promoted. A voter comes only from an online standby that is caught
 *     up (match >= commit - catchUpLag); spare -> standby needs no catch-up (it starts
 *     replicating). Offline members are never promoted and, once replaced, go straight to spare.
 *  R7 Extra voters are demoted to standby and extra standbys to spare, offline ones first, then
 *     the worst for spread / higher weight / higher id (an online extra voter goes straight to
 *     spare when the standby seats are better filled by others). A role is never emptied below
 *     its target while no replacement can be promoted: an offline voter or standby is kept then.
 *  R8 Deterministic: no randomness, no time; ties end on ids.
 *  R9 Stable: members that already hold a role are kept unless spread strictly improves (more
 *     distinct domains or better balance), so a cluster that meets the targets gets [].
 *
 * Order of the changes (each member moves at most two steps towards its desired role, and the
 * first safe candidate in this order is taken): promote standby -> voter; a caught-up spare ->
 * standby (then voter); demote offline voters -> spare; spare -> standby; demote online voters;
 * standby -> spare (offline first). Promotions and the removal of offline voters only raise
 * (online - offline) voters, and online demotions then only lower it down to the end state's
 * value, so when the input has a quorum every prefix keeps one.
 *
 * A plan beyond its first change is a forecast from the same input: the commit index and the
 * members' match and liveness are taken as given. The caller re-plans after every commit.
 */

import { quorum } from '../../datastore/raft/membership.js';
import type { ConfChange, NodeId, Role } from '../../datastore/raft/types.js';
import { AssertionError, assert } from '../../lib/assert.js';
import { MicroK8sError } from '../../lib/errors.js';
import { pickSpread, type SpreadCandidate } from './spread.js';

export interface MemberState {
  readonly id: NodeId;
  readonly role: Role;
  /** From the leader's own heartbeat acks (recently heard). The leader itself counts as online. */
  readonly online: boolean;
  /** Replicated index (0 for spares). */
  readonly match: number;
  /** e.g. 'zone-1'. */
  readonly failureDomain: string;
  /** Lower is preferred. */
  readonly weight: number;
}

export interface RoleTargets {
  /** Default 3 (fewer with fewer members; rounded down to odd). Configure 5 for larger clusters. */
  readonly voters?: number;
  /** Default 3. */
  readonly standbys?: number;
  /** A standby is caught up when match >= commit - catchUpLag. Default 0 (as the core requires). */
  readonly catchUpLag?: number;
}

export interface PlannerInput {
  /** The leader's id (it is a voter). */
  readonly leader: NodeId;
  /** The leader's commit index. */
  readonly commit: number;
  readonly members: readonly MemberState[];
  readonly targets?: RoleTargets;
}

export interface PlannedChange {
  readonly change: ConfChange;
  readonly reason: string;
}

export const DEFAULT_VOTERS = 3;
export const DEFAULT_STANDBYS = 3;

/** The effective targets for a cluster of `memberCount` members (R4). */
export interface EffectiveTargets {
  readonly voters: number;
  readonly standbys: number;
  readonly catchUpLag: number;
}

export function effectiveTargets(memberCount: number, targets: RoleTargets = {}): EffectiveTargets {
  const wanted = targets.voters ?? DEFAULT_VOTERS;
  const standbys = targets.standbys ?? DEFAULT_STANDBYS;
  const catchUpLag = targets.catchUpLag ?? 0;
  if (!(Number.isInteger(wanted) && wanted >= 1)) {
    throw new MicroK8sError('MK_INVALID_CONFIG', `target voters must be an integer >= 1, not ${wanted}`);
  }
  if (!(Number.isInteger(standbys) && standbys >= 0)) {
    throw new MicroK8sError('MK_INVALID_CONFIG', `target standbys must be an integer >= 0, not ${standbys}`);
  }
  if (!(Number.isInteger(catchUpLag) && catchUpLag >= 0)) {
    throw new MicroK8sError('MK_INVALID_CONFIG', `catch-up lag must be an integer >= 0, not ${catchUpLag}`);
  }
  let voters = Math.min(wanted, Math.max(memberCount, 1));
  if (voters % 2 === 0) voters -= 1;
  return { voters, standbys, catchUpLag };
}

/** The validated input with the derived facts every step needs. */
interface Context {
  readonly leader: NodeId;
  readonly members: readonly MemberState[];
  readonly byId: ReadonlyMap<NodeId, MemberState>;
  readonly targets: EffectiveTargets;
  /** Online as the core's isActive sees it: the leader always is. */
  readonly online: ReadonlySet<NodeId>;
  /** match >= commit - catchUpLag. */
  readonly caughtUp: ReadonlySet<NodeId>;
}

function context(input: PlannerInput): Context {
  assert(Number.isInteger(input.commit) && input.commit >= 0, () => `bad commit index ${input.commit}`);
  const byId = new Map<NodeId, MemberState>();
  for (const m of input.members) {
    assert(Number.isInteger(m.id) && m.id > 0, () => `bad member id ${m.id}`);
    assert(!byId.has(m.id), () => `member ${m.id} listed twice`);
    assert(m.role === 'voter' || m.role === 'standby' || m.role === 'spare', () => `bad role ${m.role}`);
    assert(Number.isFinite(m.weight), () => `member ${m.id} has a bad weight ${m.weight}`);
    assert(Number.isInteger(m.match) && m.match >= 0, () => `member ${m.id} has a bad match ${m.match}`);
    byId.set(m.id, m);
  }
  assert(byId.get(input.leader)?.role === 'voter', () => `the leader ${input.leader} must be a voter`);
  const members = [...byId.values()].sort((a, b) => a.id - b.id);
  const targets = effectiveTargets(members.length, input.targets);
  const online = new Set<NodeId>();
  const caughtUp = new Set<NodeId>();
  for (const m of members) {
    if (m.online || m.id === input.leader) online.add(m.id);
    if (m.id === input.leader || m.match >= input.commit - targets.catchUpLag) caughtUp.add(m.id);
  }
  return { leader: input.leader, members, byId, targets, online, caughtUp };
}

/** The chosen end state, with the standby target it was chosen for (R3, R4). */
interface Desired {
  readonly roles: ReadonlyMap<NodeId, Role>;
  readonly voterSeats: number;
  readonly standbySeats: number;
}

function desire(ctx: Context): Desired {
  const { targets, online, caughtUp } = ctx;
  const V = targets.voters;
  const asCandidate = (m: MemberState, role: Role): SpreadCandidate => ({
    id: m.id,
    domain: m.failureDomain,
    weight: m.weight,
    retained: m.role === role,
  });

  // Voters (R3, R5, R6, R9). Health first: online members that may be voters (current voters, and
  // caught-up standbys or spares) fill the seats by spread. Only if they are too few, offline
  // voters keep the remaining seats (R7: no demotion below target without a replacement).
  const eligible = ctx.members.filter((m) => online.has(m.id) && (m.role === 'voter' || caughtUp.has(m.id)));
  let voterIds: NodeId[];
  if (eligible.length >= V) {
    voterIds = pickSpread(
      eligible.map((m) => asCandidate(m, 'voter')),
      new Set([ctx.leader]),
      V,
    );
  } else {
    const offlineVoters = ctx.members.filter((m) => !online.has(m.id) && m.role === 'voter');
    voterIds = pickSpread(
      [...eligible, ...offlineVoters].map((m) => asCandidate(m, 'voter')),
      new Set(eligible.map((m) => m.id)),
      V,
    );
  }
  const voterSet = new Set(voterIds);
  const onlineVoters = voterIds.filter((id) => online.has(id)).length;

  // Standbys (R3, R4, R5, R7): enough to fill every voter seat not held by an online voter, so a
  // dead voter always has a replacement catching up. Online non-voters first (a spare starts
  // replicating; an online voter that lost its seat may stay on as a standby), then offline
  // standbys keep their seats if the online ones are too few. A replaced offline voter is not a
  // candidate: it goes to spare.
  const S = Math.max(targets.standbys, V - onlineVoters);
  const rest = ctx.members.filter((m) => !voterSet.has(m.id));
  const onlineRest = rest.filter((m) => online.has(m.id));
  let standbyIds: NodeId[];
  if (onlineRest.length >= S) {
    standbyIds = pickSpread(
      onlineRest.map((m) => asCandidate(m, 'standby')),
      new Set(),
      S,
    );
  } else {
    const offlineStandbys = rest.filter((m) => !online.has(m.id) && m.role === 'standby');
    standbyIds = pickSpread(
      [...onlineRest, ...offlineStandbys].map((m) => asCandidate(m, 'standby')),
      new Set(onlineRest.map((m) => m.id)),
      S,
    );
  }
  const standbySet = new Set(standbyIds);

  const roles = new Map<NodeId, Role>();
  for (const m of ctx.members) {
    roles.set(m.id, voterSet.has(m.id) ? 'voter' : standbySet.has(m.id) ? 'standby' : 'spare');
  }
  return { roles, voterSeats: V, standbySeats: S };
}

/** The end state the planner steers towards (R3-R7, R9), by member id. */
export function desiredRoles(input: PlannerInput): Map<NodeId, Role> {
  return new Map(desire(context(input)).roles);
}

/**
 * Why `change` would be refused in the state `roles`, or undefined if it is safe: the core's
 * rules (Raft.unsafeConfChange) plus R1, judged with the input's liveness and match.
 */
function refusal(ctx: Context, roles: ReadonlyMap<NodeId, Role>, change: ConfChange): string | undefined {
  const current = roles.get(change.id);
  if (current === undefined) return `${change.id} is not a member`;
  if (change.kind === 'set-role' && current === change.role) return `${change.id} is already a ${current}`;
  if (change.id === ctx.leader && (change.kind === 'remove' || change.role !== 'voter')) {
    return 'the leader is never demoted or removed';
  }
  if (change.kind === 'set-role' && change.role === 'voter') {
    if (current !== 'standby') return `${change.id} must be a standby before it becomes a voter`;
    if (!ctx.caughtUp.has(change.id)) return `${change.id} has not caught up`;
    if (!ctx.online.has(change.id)) return `${change.id} is offline`;
  }
  // A change takes effect when it commits, which needs a quorum of the current voters.
  const before = onlineVoters(ctx, roles);
  if (before.online < quorum(before.size)) {
    return `only ${before.online} of ${before.size} voters are online: no change can commit`;
  }
  const after = onlineVoters(ctx, roles, change);
  if (after.size === 0) return 'no voter would be left';
  if (after.online < quorum(after.size))
    return `only ${after.online} of ${after.size} voters would be online`;
  return undefined;
}

/** The number of voters and of online voters, after `change` if given. */
function onlineVoters(
  ctx: Context,
  roles: ReadonlyMap<NodeId, Role>,
  change?: ConfChange,
): { size: number; online: number } {
  let size = 0;
  let online = 0;
  for (const [id, role] of roles) {
    const next = id === change?.id ? (change.kind === 'remove' ? undefined : change.role) : role;
    if (next !== 'voter') continue;
    size++;
    if (ctx.online.has(id)) online++;
  }
  return { size, online };
}

/** The kinds of step, in the order they are taken (see the header). */
const Step = {
  promoteVoter: 0,
  prepareVoter: 1,
  dropOfflineVoter: 2,
  addStandby: 3,
  demoteVoter: 4,
  dropStandby: 5,
} as const;
type Step = (typeof Step)[keyof typeof Step];

interface Candidate {
  readonly step: Step;
  readonly member: MemberState;
  readonly role: Role;
}

function candidates(ctx: Context, roles: ReadonlyMap<NodeId, Role>, desired: Desired): Candidate[] {
  const out: Candidate[] = [];
  for (const m of ctx.members) {
    const now = roles.get(m.id)!;
    const want = desired.roles.get(m.id)!;
    if (now === want) continue;
    if (want === 'voter') {
      out.push(
        now === 'standby'
          ? { step: Step.promoteVoter, member: m, role: 'voter' }
          : { step: Step.prepareVoter, member: m, role: 'standby' },
      );
    } else if (now === 'voter') {
      const offline = !ctx.online.has(m.id);
      assert(!offline || want === 'spare', () => `offline voter ${m.id} should go to spare`);
      out.push({ step: offline ? Step.dropOfflineVoter : Step.demoteVoter, member: m, role: want });
    } else if (want === 'standby') {
      out.push({ step: Step.addStandby, member: m, role: 'standby' });
    } else {
      out.push({ step: Step.dropStandby, member: m, role: 'spare' });
    }
  }
  const offlineFirst = (c: Candidate) =>
    c.step === Step.dropStandby && !ctx.online.has(c.member.id) ? 0 : 1;
  return out.sort(
    (a, b) => a.step - b.step || offlineFirst(a) - offlineFirst(b) || a.member.id - b.member.id,
  );
}

function count(roles: ReadonlyMap<NodeId, Role>, role: Role): number {
  let n = 0;
  for (const r of roles.values()) if (r === role) n++;
  return n;
}

function domainCount(ctx: Context, roles: ReadonlyMap<NodeId, Role>, role: Role, domain: string): number {
  let n = 0;
  for (const [id, r] of roles) if (r === role && ctx.byId.get(id)!.failureDomain === domain) n++;
  return n;
}

function describe(m: MemberState): string {
  return `${m.id} (${m.failureDomain}, weight ${m.weight})`;
}

function reasonFor(ctx: Context, roles: ReadonlyMap<NodeId, Role>, desired: Desired, c: Candidate): string {
  const m = c.member;
  const voters = count(roles, 'voter');
  const standbys = count(roles, 'standby');
  const leaving = (role: Role) =>
    ctx.members
      .filter((o) => roles.get(o.id) === role && !ctx.online.has(o.id) && desired.roles.get(o.id) === 'spare')
      .map((o) => o.id);
  switch (c.step) {
    case Step.promoteVoter: {
      const dead = leaving('voter');
      if (dead.length > 0) {
        return `promote caught-up standby ${describe(m)} before demoting offline voter ${dead.join(', ')}`;
      }
      if (voters < desired.voterSeats) {
        return `promote caught-up standby ${describe(m)}: ${voters} of ${desired.voterSeats} voters`;
      }
      return `promote caught-up standby ${describe(m)}: better spread of voters across failure domains`;
    }
    case Step.prepareVoter:
      return `spare ${describe(m)} is caught up: standby now, voter next`;
    case Step.dropOfflineVoter:
      return `voter ${describe(m)} is offline and not needed (${voters - 1} voters stay, ${desired.voterSeats} wanted): demote to spare, it may come back`;
    case Step.addStandby: {
      const online = ctx.members.filter((o) => roles.get(o.id) === 'standby' && ctx.online.has(o.id)).length;
      if (online >= desired.standbySeats) {
        return `spare ${describe(m)} becomes a standby: better spread of standbys across failure domains`;
      }
      const dead = leaving('standby');
      const replaces = dead.length > 0 ? `; replaces offline standby ${dead.join(', ')}` : '';
      const why =
        desired.standbySeats > ctx.targets.standbys
          ? '; it catches up for a voter seat without an online voter'
          : '';
      return `spare ${describe(m)} becomes a standby: ${online} of ${desired.standbySeats} standbys online${replaces}${why}`;
    }
    case Step.demoteVoter: {
      const have = domainCount(ctx, roles, 'voter', m.failureDomain);
      const keep = domainCount(ctx, desired.roles, 'voter', m.failureDomain);
      return `demote voter ${describe(m)} to ${c.role}: ${voters} voters, ${desired.voterSeats} wanted; ${m.failureDomain} keeps ${keep} of its ${have}`;
    }
    case Step.dropStandby: {
      if (!ctx.online.has(m.id)) return `standby ${describe(m)} is offline and replaced: demote to spare`;
      const have = domainCount(ctx, roles, 'standby', m.failureDomain);
      const keep = domainCount(ctx, desired.roles, 'standby', m.failureDomain);
      return `demote standby ${describe(m)} to spare: ${standbys} standbys, ${desired.standbySeats} wanted; ${m.failureDomain} keeps ${keep} of its ${have}`;
    }
  }
}

/**
 * The ordered changes from the input towards the desired end state. Apply only the first, then
 * plan again once it has committed. [] when nothing is to be done, or nothing can be done safely.
 */
export function planRoles(input: PlannerInput): PlannedChange[] {
  const ctx = context(input);
  const desired = desire(ctx);
  const roles = new Map<NodeId, Role>(ctx.members.map((m) => [m.id, m.role]));
  const plan: PlannedChange[] = [];
  // Each member moves at most two steps (spare -> standby -> voter).
  for (let guard = 0; guard <= 2 * ctx.members.length; guard++) {
    const next = candidates(ctx, roles, desired).find(
      (c) => refusal(ctx, roles, { kind: 'set-role', id: c.member.id, role: c.role }) === undefined,
    );
    if (next === undefined) return plan;
    plan.push({
      change: { kind: 'set-role', id: next.member.id, role: next.role },
      reason: reasonFor(ctx, roles, desired, next),
    });
    roles.set(next.member.id, next.role);
  }
  throw new AssertionError('the roles plan does not converge');
}
