/**
 * A log line that cannot flood the log: hitting a limit is logged at most once per interval and
 * key, with the number of lines held back since the last one. A client that hits a cap thousands
 * of times a second (the attacks the limits exist for) costs a line a few seconds, not a disk.
 */
import type { Logger } from './log.js';

/** Default spacing of lines of one key. */
export const RATE_LIMITED_LOG_INTERVAL_MS = 5_000;
/** Keys remembered at once; beyond, the oldest are forgotten (a key per limit, never per client). */
const MAX_KEYS = 256;

export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs: number = RATE_LIMITED_LOG_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  warn(key: string, message: string, fields: Record<string, unknown> = {}): void {
    const now = this.now();
    const seen = this.last.get(key);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    this.last.delete(key);
    this.last.set(key, { at: now, suppressed: 0 });
    if (this.last.size > MAX_KEYS) this.last.delete(this.last.keys().next().value as string);
    this.logger.warn(message, suppressed > 0 ? { ...fields, suppressed } : fields);
  }
}
