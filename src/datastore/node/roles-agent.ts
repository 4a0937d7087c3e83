/**
 * The node's side of autonomous roles.
 *
 * Every node keeps its own placement facts (failure domain, weight, draining) in the replicated
 * member table: it proposes them when the table disagrees with what it wants. That way any node
 * that becomes leader plans from the same facts, and a change made at run time on one node
 * reaches them all through the log.
 *
 * The leader runs the injected roles planner every few seconds and soon after anything that can
 * change the plan (a membership change, a placement change, a new leadership), and proposes only
 * the plan's first change: the core takes one membership change at a time.
 *
 * A member that stops cleanly first marks itself draining. The planner treats a draining member
 * as one that is going away: it promotes a replacement first, then demotes it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { MicroK8sError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { RaftStatus } from '../raft/raft.js';
import type { ConfChange, NodeId, Role } from '../raft/types.js';
import type { ApplyResult, Command, MemberInfo, MemberRemoval } from '../state/types.js';

/** The roles planner, injected by the caller (the datastore does not import the cluster layer). */
export type RolesPlanner = (input: {
  leader: NodeId;
  commit: number;
  members: {
    id: NodeId;
    role: Role;
    online: boolean;
    match: number;
    failureDomain: string;
    weight: number;
  }[];
  targets?: { voters?: number; standbys?: number };
}) => readonly { change: ConfChange; reason: string }[];

export interface Placement {
  readonly failureDomain: string;
  readonly weight: number;
}

/** What the agent needs of the node. */
export interface RolesHost {
  readonly id: NodeId;
  status(): RaftStatus;
  members(): MemberInfo[];
  /** This node's own addresses, published with its placement. */
  selfAddress(): { peerAddress: string; clientUrl: string };
  execute(cmd: Command): Promise<ApplyResult>;
  proposeConfChange(change: ConfChange): void;
  /** A member is online when the leader heard from it within this many ticks. */
  readonly electionTicks: number;
  readonly tickMs: number;
}

export interface RolesAgentOptions {
  placement: Placement;
  /** Fallback placement of members that have not published theirs yet (from the args file). */
  peerPlacement: ReadonlyMap<NodeId, Placement>;
  targets: { voters?: number; standbys?: number };
  /** A member unheard of for longer than this is reported dead (never removed automatically). */
  deadAfterMs: number;
  logger: Logger;
}

export const ROLES_AGENT_LIMITS = {
  /** How often the leader plans when nothing happens. */
  planEveryMs: 2_000,
  /** Debounce of an early plan after a change. */
  nudgeMs: 50,
  /** How often a node compares its published placement with its own. */
  publishEveryMs: 500,
  /** Polling while a draining voter waits to be replaced. */
  drainPollMs: 50,
  /** How often the leader looks for a member going offline or coming back (then plans at once). */
  livenessCheckMs: 100,
} as const;

export interface MemberReport {
  id: NodeId;
  role: Role;
  failureDomain: string;
  weight: number;
  draining: boolean;
  removal: MemberRemoval;
  /** HOST:PORT of its peer transport, when known (member table or args). */
  peerAddress?: string;
  /** Leader's view only. */
  match?: number;
  online?: boolean;
  offlineMs?: number;
  dead?: boolean;
}

export class RolesAgent {
  private placement: Placement;
  private draining = false;
  private planner: RolesPlanner | undefined;
  private planTimer: NodeJS.Timeout | undefined;
  private publishTimer: NodeJS.Timeout | undefined;
  private nudgeTimer: NodeJS.Timeout | undefined;
  private livenessTimer: NodeJS.Timeout | undefined;
  private lastOnline = '';
  private publishing = false;
  private stopped = false;

  constructor(
    private readonly host: RolesHost,
    private readonly options: RolesAgentOptions,
  ) {
    this.placement = options.placement;
  }

  start(): void {
    this.publishTimer = setInterval(() => void this.publish(), ROLES_AGENT_LIMITS.publishEveryMs);
    this.livenessTimer = setInterval(() => this.checkLiveness(), ROLES_AGENT_LIMITS.livenessCheckMs);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.publishTimer);
    clearInterval(this.livenessTimer);
    clearInterval(this.planTimer);
    clearTimeout(this.nudgeTimer);
  }

  setPlanner(planner: RolesPlanner, everyMs: number = ROLES_AGENT_LIMITS.planEveryMs): void {
    this.planner = planner;
    clearInterval(this.planTimer);
    this.planTimer = setInterval(() => this.plan(), everyMs);
  }

  get currentPlacement(): Placement {
    return this.placement;
  }

  /** Something that may change the plan happened: plan again soon (leader only). */
  nudge(): void {
    if (this.stopped || this.planner === undefined || this.nudgeTimer !== undefined) return;
    this.nudgeTimer = setTimeout(() => {
      this.nudgeTimer = undefined;
      this.plan();
    }, ROLES_AGENT_LIMITS.nudgeMs);
  }

  private withdrawing = new Set<NodeId>();

  private withdrawRemoval(id: NodeId): void {
    const row = this.host.members().find((m) => m.id === id);
    if (!row || this.withdrawing.has(id)) return;
    this.withdrawing.add(id);
    this.options.logger.warn('removal refused: the member is alive (remove it with force)', { id });
    this.host
      .execute({ type: 'memberSet', ...row, removal: 'no' })
      .catch((error: unknown) => this.options.logger.debug('withdrawal not committed', { id, error }))
      .finally(() => this.withdrawing.delete(id));
  }

  /** Leader: a member went offline or came back since the last look: plan now, not in 2 s. */
  private checkLiveness(): void {
    const s = this.host.status();
    if (s.state !== 'leader') {
      this.lastOnline = '';
      return;
    }
    const online = s.progress
      .filter((p) => p.id === this.host.id || p.ticksSinceHeard < this.host.electionTicks)
      .map((p) => p.id)
      .join(',');
    if (online !== this.lastOnline) {
      this.lastOnline = online;
      this.nudge();
    }
  }

  /** Change this node's placement at run time; resolves once the cluster has it. */
  async setPlacement(placement: Placement): Promise<void> {
    this.placement = placement;
    await this.publishNow();
  }

  /**
   * Mark this node as leaving and wait (bounded) until a voter seat has gone to someone else: the
   * leader promotes a replacement first, then demotes this node. Only the promotion is awaited:
   * a node demoted to spare no longer receives the log, so it would never see its own demotion,
   * and once the others hold as many voter seats as before, stopping takes no quorum away.
   * Returns the role this node held when it stopped waiting.
   */
  async drain(timeoutMs: number): Promise<Role | undefined> {
    this.draining = true;
    const deadline = Date.now() + timeoutMs;
    const votersBefore = this.votersBesidesMe() + 1;
    try {
      await this.publishNow(timeoutMs);
    } catch (error) {
      this.options.logger.info('could not publish draining; stopping anyway', { error });
      return this.role();
    }
    while (
      Date.now() < deadline &&
      this.role() === 'voter' &&
      this.votersBesidesMe() < votersBefore &&
      this.host.status().leader !== 0 &&
      this.replacementExists()
    ) {
      await sleep(ROLES_AGENT_LIMITS.drainPollMs);
    }
    return this.role();
  }

  private votersBesidesMe(): number {
    return this.host.status().conf.members.filter((m) => m.role === 'voter' && m.id !== this.host.id).length;
  }

  private role(): Role | undefined {
    return this.host.status().conf.members.find((m) => m.id === this.host.id)?.role;
  }

  /** Is there a member that could take a voter seat (a standby or spare other than us)? */
  private replacementExists(): boolean {
    const published = new Map(this.host.members().map((m) => [m.id, m]));
    return this.host
      .status()
      .conf.members.some(
        (m) => m.id !== this.host.id && m.role !== 'voter' && !published.get(m.id)?.draining,
      );
  }

  private wanted(): MemberInfo {
    // An operator's removal request stands: a node never withdraws it for itself.
    const removal = this.host.members().find((m) => m.id === this.host.id)?.removal ?? 'no';
    return {
      id: this.host.id,
      ...this.placement,
      draining: this.draining,
      ...this.host.selfAddress(),
      removal,
    };
  }

  /**
   * Record another node in the member table (a join): the leader adds it to the Raft group as a
   * spare on its next plan, and the planner promotes it from there.
   */
  async registerMember(info: MemberInfo): Promise<void> {
    const result = await this.host.execute({ type: 'memberSet', ...info });
    if (!result.ok) throw new MicroK8sError('MK_INVALID_ARGUMENT', result.error.message);
  }

  /** A joining node's first record: refused with MK_MEMBER_ID_TAKEN if its id is taken. */
  async addMember(info: MemberInfo): Promise<void> {
    const result = await this.host.execute({ type: 'memberAdd', ...info });
    if (!result.ok) {
      const code = result.error.code === 'MK_MEMBER_ID_TAKEN' ? 'MK_MEMBER_ID_TAKEN' : 'MK_INVALID_ARGUMENT';
      throw new MicroK8sError(code, result.error.message);
    }
  }

  private differs(): boolean {
    const mine = this.host.members().find((m) => m.id === this.host.id);
    const want = this.wanted();
    return (
      mine === undefined ||
      mine.failureDomain !== want.failureDomain ||
      mine.weight !== want.weight ||
      mine.draining !== want.draining ||
      mine.peerAddress !== want.peerAddress ||
      mine.clientUrl !== want.clientUrl
    );
  }

  private async publish(): Promise<void> {
    if (this.stopped || this.publishing || this.host.status().leader === 0 || !this.differs()) return;
    this.publishing = true;
    try {
      await this.host.execute({ type: 'memberSet', ...this.wanted() });
    } catch (error) {
      this.options.logger.debug('placement not published yet', { error });
    } finally {
      this.publishing = false;
    }
  }

  private async publishNow(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      if (!this.differs()) return;
      try {
        const result = await this.host.execute({ type: 'memberSet', ...this.wanted() });
        if (result.ok) return;
        last = new MicroK8sError('MK_INTERNAL', result.error.message);
      } catch (error) {
        last = error;
      }
      await sleep(100);
    }
    throw new MicroK8sError('MK_TIMEOUT', `the placement change did not commit within ${timeoutMs} ms`, {
      cause: String(last),
    });
  }

  /** The members as the planner and status see them (online facts only on the leader). */
  members(): MemberReport[] {
    const s = this.host.status();
    const leader = s.state === 'leader';
    const progress = new Map(s.progress.map((p) => [p.id, p]));
    const published = new Map(this.host.members().map((m) => [m.id, m]));
    return s.conf.members.map((m) => {
      const self = m.id === this.host.id;
      const info = published.get(m.id);
      const fallback = self ? this.placement : this.options.peerPlacement.get(m.id);
      const report: MemberReport = {
        id: m.id,
        role: m.role,
        failureDomain: info?.failureDomain ?? fallback?.failureDomain ?? 'default',
        weight: info?.weight ?? fallback?.weight ?? 0,
        draining: info?.draining ?? false,
        removal: info?.removal ?? 'no',
        ...(info?.peerAddress ? { peerAddress: info.peerAddress } : {}),
      };
      if (!leader) return report;
      const p = progress.get(m.id);
      const unheard = self ? 0 : (p?.ticksSinceHeard ?? Number.MAX_SAFE_INTEGER);
      const offlineMs = Math.min(unheard * this.host.tickMs, Number.MAX_SAFE_INTEGER);
      return {
        ...report,
        match: self ? s.lastIndex : (p?.match ?? 0),
        online: unheard < this.host.electionTicks,
        offlineMs: unheard < this.host.electionTicks ? 0 : offlineMs,
        dead: offlineMs > this.options.deadAfterMs,
      };
    });
  }

  private plan(): void {
    const planner = this.planner;
    if (this.stopped || planner === undefined) return;
    const s = this.host.status();
    if (s.state !== 'leader' || s.leadTransferee !== 0) return;
    // A node recorded in the member table but not in the group yet joins as a spare first.
    const inGroup = new Set(s.conf.members.map((m) => m.id));
    const joining = this.host
      .members()
      .find((m) => !inGroup.has(m.id) && m.peerAddress !== '' && !m.draining && m.removal === 'no');
    if (joining) {
      try {
        this.host.proposeConfChange({ kind: 'set-role', id: joining.id, role: 'spare' });
        this.options.logger.info('adding a new member as a spare', {
          id: joining.id,
          peer: joining.peerAddress,
        });
      } catch (error) {
        this.options.logger.debug('new member not added now', { id: joining.id, error });
      }
      return;
    }
    // An operator removes a member: a standby or spare goes at once (no quorum depends on it); a
    // voter is planned as gone, so it is replaced and demoted first, and goes on a later round.
    // Without force, only while it is offline. The leader never removes itself: it transfers.
    const view = this.members();
    const leaving = (m: MemberReport) =>
      m.id !== this.host.id && m.removal !== 'no' && (m.removal === 'force' || m.online === false);
    // A removal without force is for a dead member: asked of a live one, the leader withdraws it,
    // which is how the operator who asked learns that it was refused.
    const alive = view.find((m) => m.removal === 'if-offline' && m.online === true && m.id !== this.host.id);
    if (alive) {
      this.withdrawRemoval(alive.id);
      return;
    }
    const removable = view.find((m) => leaving(m) && m.role !== 'voter');
    if (removable) {
      try {
        this.host.proposeConfChange({ kind: 'remove', id: removable.id });
        this.options.logger.info('removing a member at an operator request', {
          id: removable.id,
          removal: removable.removal,
        });
      } catch (error) {
        this.options.logger.debug('member not removed now', { id: removable.id, error });
      }
      return;
    }
    const members = view.map((m) => ({
      id: m.id,
      role: m.role,
      // A draining or leaving member is planned as gone, so it is replaced first.
      online: (m.online ?? false) && !(m.draining && m.id !== this.host.id) && !leaving(m),
      match: m.match ?? 0,
      failureDomain: m.failureDomain,
      weight: m.weight,
    }));
    const plan = planner({ leader: this.host.id, commit: s.commit, members, targets: this.options.targets });
    // A voter an operator removes goes even with nobody to take its seat, when the voters left
    // still make a quorum (the core refuses the change otherwise): fewer voters, not a stuck removal.
    const leavingVoter = view.find((m) => leaving(m) && m.role === 'voter');
    const next =
      plan[0] ??
      (leavingVoter
        ? {
            change: { kind: 'set-role' as const, id: leavingVoter.id, role: 'spare' as const },
            reason: `voter ${leavingVoter.id} is being removed and no standby can take its seat`,
          }
        : undefined);
    if (!next) return;
    try {
      this.host.proposeConfChange(next.change);
      this.options.logger.info('role change proposed', { change: next.change, reason: next.reason });
    } catch (error) {
      this.options.logger.debug('role change not proposed now', { change: next.change, error });
    }
  }
}
