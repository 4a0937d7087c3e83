/**
 * Lease deadlines, kept by every replica from the moment it applies a grant or a keep-alive, so
 * a new leader already knows roughly when each lease ends. On becoming leader every deadline is
 * pushed to at least a full TTL from now (as etcd does), because the old leader's keep-alives may
 * not have reached us. Only the leader proposes expiry.
 */
export class LeaseClock {
  private readonly deadlines = new Map<number, { ttl: number; deadline: number }>();
  private readonly now: () => number;

  constructor(now: () => number = () => Date.now()) {
    this.now = now;
  }

  renew(id: number, ttlSeconds: number): void {
    this.deadlines.set(id, { ttl: ttlSeconds, deadline: this.now() + ttlSeconds * 1000 });
  }

  forget(id: number): void {
    this.deadlines.delete(id);
  }

  /** Seconds left (rounded up), or -1 when unknown or expired. */
  remaining(id: number): number {
    const d = this.deadlines.get(id);
    if (!d) return -1;
    const left = d.deadline - this.now();
    return left <= 0 ? -1 : Math.ceil(left / 1000);
  }

  granted(id: number): number | undefined {
    return this.deadlines.get(id)?.ttl;
  }

  onBecomeLeader(leases: readonly { id: number; ttl: number }[]): void {
    const now = this.now();
    for (const lease of leases) {
      const known = this.deadlines.get(lease.id);
      const deadline = Math.max(known?.deadline ?? 0, now + lease.ttl * 1000);
      this.deadlines.set(lease.id, { ttl: lease.ttl, deadline });
    }
  }

  expired(): number[] {
    const now = this.now();
    const out: number[] = [];
    for (const [id, d] of this.deadlines) if (d.deadline <= now) out.push(id);
    return out;
  }
}
