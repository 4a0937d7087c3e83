/**
 * The API-server proxy's bounds and defaults. A worker node's kubelet and kube-proxy talk to the
 * API servers through it, so every wait is short and every count is capped: a dead control-plane
 * node must cost a client one quick retry, never a hang.
 */
import { checkLimit, type LimitSpec } from '../../lib/limits.js';

/** The port MicroK8s uses for the API server endpoint on every node (the proxy's, on workers). */
export const APISERVER_PROXY_PORT = 16443;

export type BalanceStrategy = 'round-robin' | 'least-connections';

export interface ProxyTuning {
  /** Between two rounds of health checks. */
  readonly healthIntervalMs: number;
  /** One health check (a TCP connect) fails after this long. */
  readonly healthTimeoutMs: number;
  /** Consecutive failed checks that take an upstream out (one success brings it back). */
  readonly failThreshold: number;
  /** Connecting to an upstream for a client fails after this long (then the next one is tried). */
  readonly connectTimeoutMs: number;
  /** Client connections at once; beyond it new ones are closed at once by the kernel-side accept. */
  readonly maxConnections: number;
  /** After one side closed cleanly, the other gets this long to finish writing before it is cut. */
  readonly lingerMs: number;
}

const SPECS: Record<keyof ProxyTuning, LimitSpec> = {
  healthIntervalMs: { name: 'healthIntervalMs', min: 10, max: 600_000, unit: 'ms' },
  healthTimeoutMs: { name: 'healthTimeoutMs', min: 10, max: 60_000, unit: 'ms' },
  failThreshold: { name: 'failThreshold', min: 1, max: 100, unit: 'checks' },
  connectTimeoutMs: { name: 'connectTimeoutMs', min: 10, max: 60_000, unit: 'ms' },
  maxConnections: { name: 'maxConnections', min: 1, max: 100_000, unit: 'connections' },
  lingerMs: { name: 'lingerMs', min: 0, max: 600_000, unit: 'ms' },
};

export const PROXY_DEFAULTS: ProxyTuning = {
  healthIntervalMs: 2_000,
  healthTimeoutMs: 1_000,
  failThreshold: 3,
  connectTimeoutMs: 3_000,
  maxConnections: 10_000,
  lingerMs: 30_000,
};

/** At most this many upstreams (control-plane nodes) in one list. */
export const MAX_UPSTREAMS = 64;

/** The defaults with the given values, each checked against its bounds (MK_INVALID_CONFIG). */
export function resolveTuning(given: Partial<ProxyTuning> = {}): ProxyTuning {
  const out = { ...PROXY_DEFAULTS };
  for (const key of Object.keys(SPECS) as (keyof ProxyTuning)[]) {
    const value = given[key];
    if (value !== undefined) out[key] = checkLimit(SPECS[key], value);
  }
  return out;
}
