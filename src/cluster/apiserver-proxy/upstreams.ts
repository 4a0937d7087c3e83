/**
 * The upstream list and each upstream's health. Health follows a simple, predictable rule: K
 * consecutive failures take an upstream out, one success brings it back. Connection failures
 * seen while forwarding count like failed checks, so a node that just died stops getting traffic
 * without waiting for the next round.
 */
import { MicroK8sError } from '../../lib/errors.js';
import { formatHostPort } from '../../lib/host-port.js';
import { MAX_UPSTREAMS } from './limits.js';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface Upstream extends Endpoint {
  readonly key: string;
  healthy: boolean;
  /** Consecutive failed checks or connects. */
  failures: number;
  /** Client connections being forwarded to it now. */
  active: number;
  /** Client connections forwarded to it since it was added. */
  total: number;
  lastError?: string;
}

export type HealthChange = 'down' | 'up' | undefined;

export function endpointKey(e: Endpoint): string {
  return formatHostPort(e.host, e.port);
}

function checkEndpoint(e: Endpoint): Endpoint {
  if (
    typeof e.host !== 'string' ||
    e.host === '' ||
    !(Number.isInteger(e.port) && e.port > 0 && e.port < 65536)
  ) {
    throw new MicroK8sError('MK_INVALID_ARGUMENT', `not an upstream HOST:PORT: ${JSON.stringify(e)}`);
  }
  return { host: e.host, port: e.port };
}

export class UpstreamSet {
  private list: Upstream[] = [];

  constructor(endpoints: readonly Endpoint[]) {
    this.replace(endpoints, () => true);
  }

  all(): readonly Upstream[] {
    return this.list;
  }

  healthy(): Upstream[] {
    return this.list.filter((u) => u.healthy);
  }

  has(u: Upstream): boolean {
    return this.list.includes(u);
  }

  /**
   * Make `endpoints` the list. An upstream that stays keeps its health and counters; a new one
   * starts as `initiallyHealthy` says (the caller probes it first). Connections to a removed
   * upstream are left to finish: cutting a kubelet's watch would only make it reconnect.
   */
  replace(endpoints: readonly Endpoint[], initiallyHealthy: (key: string) => boolean): void {
    if (endpoints.length > MAX_UPSTREAMS) {
      throw new MicroK8sError(
        'MK_LIMIT_EXCEEDED',
        `at most ${MAX_UPSTREAMS} upstreams, got ${endpoints.length}`,
      );
    }
    const old = new Map(this.list.map((u) => [u.key, u]));
    const next: Upstream[] = [];
    for (const e of endpoints.map(checkEndpoint)) {
      const key = endpointKey(e);
      if (next.some((u) => u.key === key)) continue;
      next.push(
        old.get(key) ?? { ...e, key, healthy: initiallyHealthy(key), failures: 0, active: 0, total: 0 },
      );
    }
    this.list = next;
  }

  /** Record a successful check; 'up' when this brought the upstream back. */
  succeeded(u: Upstream): HealthChange {
    const was = u.healthy;
    u.healthy = true;
    u.failures = 0;
    delete u.lastError;
    return was ? undefined : 'up';
  }

  /** Record a failed check or connect; 'down' when this took the upstream out. */
  failed(u: Upstream, reason: string, threshold: number): HealthChange {
    u.failures++;
    u.lastError = reason;
    if (u.healthy && u.failures >= threshold) {
      u.healthy = false;
      return 'down';
    }
    return undefined;
  }
}
