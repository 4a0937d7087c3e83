/**
 * Active health checks: every interval, a TCP connect to every upstream, all at once and each
 * bounded by its timeout. Rounds never overlap, so a slow network cannot pile checks up.
 */
import type { Logger } from '../../lib/log.js';
import { probe } from './connect.js';
import type { ProxyTuning } from './limits.js';
import type { Upstream, UpstreamSet } from './upstreams.js';

export class HealthChecker {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;

  constructor(
    private readonly upstreams: UpstreamSet,
    private readonly tuning: ProxyTuning,
    private readonly logger: Logger,
    private readonly localAddress?: string,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.checkAll(), this.tuning.healthIntervalMs);
    // The listening socket keeps a daemon alive; the checks alone must not.
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.round;
  }

  /** One round over the current list (joins the round in progress, if any). */
  checkAll(): Promise<void> {
    this.round ??= this.checkList(this.upstreams.all()).finally(() => {
      this.round = undefined;
    });
    return this.round;
  }

  /** Check the given upstreams once and record the outcome. */
  async checkList(list: readonly Upstream[]): Promise<void> {
    await Promise.all(
      list.map(async (u) => {
        const failure = await probe(u, {
          timeoutMs: this.tuning.healthTimeoutMs,
          ...(this.localAddress ? { localAddress: this.localAddress } : {}),
        });
        if (failure === undefined) this.recordSuccess(u);
        else this.recordFailure(u, failure);
      }),
    );
  }

  recordSuccess(u: Upstream): void {
    if (this.upstreams.succeeded(u) === 'up') this.logger.info('upstream back', { upstream: u.key });
  }

  recordFailure(u: Upstream, reason: string): void {
    if (this.upstreams.failed(u, reason, this.tuning.failThreshold) === 'down') {
      this.logger.warn('upstream taken out', { upstream: u.key, reason, failures: u.failures });
    }
  }
}
