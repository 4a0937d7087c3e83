/**
 * The cluster agent's address watcher: one check when the agent starts (before it binds: the old
 * address may be gone already) and then one every ADDRESS_LIMITS.checkEveryMs, never two at once.
 * The timer is unref'd (it never keeps the agent alive) and stopped on close. A check never
 * throws: a failure is logged and the next check tries again.
 */
import { createLogger } from '../../lib/log.js';
import type { AgentContext } from '../agent/context.js';
import type { AddressDecision, InterfaceTable, LastSeen } from './decide.js';
import { ADDRESS_LIMITS } from './limits.js';
import { refreshAddress } from './refresh.js';

const log = createLogger('cluster.address');

export interface AddressWatcherOptions {
  readonly intervalMs?: number;
  readonly interfaces?: () => InterfaceTable;
  /**
   * After the node moved (the agent binds again and reloads its certificate): a change this
   * watcher followed, or one `microk8s refresh-address` followed meanwhile.
   */
  readonly onMoved?: (from: string, to: string) => Promise<void>;
}

/** A situation the operator must resolve is logged once, not every ten seconds. */
function report(decision: AddressDecision): string | undefined {
  if (decision.kind === 'ambiguous') {
    return `this node's address ${decision.from} is gone and several addresses could replace it (${decision.candidates.join(', ')}); run \`microk8s refresh-address --address IP\``;
  }
  if (decision.kind === 'missing') {
    return `this node's address ${decision.from} is gone and this machine has no other usable address yet`;
  }
  return undefined;
}

/** The node's address and its interface after this decision, when it has one. */
function whereNow(decision: AddressDecision): { address: string; interface: string } | undefined {
  if (decision.kind === 'unchanged') return decision;
  if (decision.kind === 'changed') return { address: decision.to, interface: decision.interface };
  return undefined;
}

export class AddressWatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastSeen: LastSeen | undefined;
  /** The configured address at the previous check. */
  private known: string | undefined;
  private reported: string | undefined;

  constructor(
    private readonly ctx: AgentContext,
    private readonly options: AddressWatcherOptions = {},
  ) {}

  /** One check (waits for one already under way instead of starting a second). */
  check(): Promise<void> {
    this.running ??= this.checkOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async checkOnce(): Promise<void> {
    try {
      const { decision } = await refreshAddress(this.ctx, {
        apply: true,
        ...(this.lastSeen ? { lastSeen: this.lastSeen } : {}),
        ...(this.options.interfaces ? { interfaces: this.options.interfaces } : {}),
      });
      const line = report(decision);
      if (line !== undefined && line !== this.reported) log.warn(line);
      this.reported = line;
      const here = whereNow(decision);
      if (here === undefined) return;
      this.lastSeen = { interface: here.interface };
      // A change followed right now moved the node from `from`, even at the very first check; one
      // followed by `microk8s refresh-address` meanwhile shows as a new configured address.
      const before = decision.kind === 'changed' ? decision.from : this.known;
      if (before !== undefined && before !== here.address) await this.options.onMoved?.(before, here.address);
      // Remembered only once the move was followed: a rebind that failed is tried again next time.
      this.known = here.address;
    } catch (error) {
      log.error('could not follow an address change; the next check tries again', { error });
    }
  }

  /** Periodic checks from now on (the first one is the caller's `check()`). */
  start(): void {
    if (this.stopped || this.timer) return;
    const next = () => {
      this.timer = setTimeout(() => {
        void this.check().then(() => {
          if (!this.stopped) next();
        });
      }, this.options.intervalMs ?? ADDRESS_LIMITS.checkEveryMs);
      this.timer.unref();
    };
    next();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
