/**
 * The proxy daemon's args file ($SNAP_DATA/args/apiserver-proxy, one flag per line, like the
 * other services): written by a worker join, editable by operators and by `microk8s configure`.
 *
 *   --listen=HOST:PORT          where the node's components reach the API (127.0.0.1:16443)
 *   --upstream=HOST:PORT        one line per control-plane node's API server
 *   --local-address=IP          the node's own address, bound by outgoing connections
 *   --strategy=round-robin|least-connections
 *   --health-interval-ms=N, --fail-threshold=N
 *
 * Every flag is validated here; anything wrong is MK_PROXY_CONFIG naming the flag.
 */
import { isIP } from 'node:net';
import { MicroK8sError } from '../../lib/errors.js';
import { readArgsFile } from '../../node/args-file.js';
import { APISERVER_PROXY_PORT, type BalanceStrategy, MAX_UPSTREAMS, type ProxyTuning } from './limits.js';
import { type Endpoint, endpointKey } from './upstreams.js';

export interface ProxyDaemonConfig {
  readonly listen: Endpoint;
  readonly upstreams: Endpoint[];
  readonly localAddress?: string;
  readonly strategy?: BalanceStrategy;
  readonly tuning: Partial<ProxyTuning>;
}

/** Where a worker's components reach the API servers unless told otherwise. */
export const DEFAULT_PROXY_LISTEN: Endpoint = { host: '127.0.0.1', port: APISERVER_PROXY_PORT };

const KNOWN = new Set([
  'listen',
  'upstream',
  'local-address',
  'strategy',
  'health-interval-ms',
  'fail-threshold',
]);

function bad(flag: string, message: string): never {
  throw new MicroK8sError('MK_PROXY_CONFIG', `--${flag}: ${message}`, { flag });
}

/** HOST:PORT or [V6]:PORT; `ipOnly` for addresses this node binds. */
export function parseEndpoint(flag: string, raw: string, ipOnly = false): Endpoint {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(raw.trim());
  const port = Number(m?.[3]);
  const host = m?.[1] ?? m?.[2] ?? '';
  if (!m || !(port >= 1 && port <= 65535)) bad(flag, `expected HOST:PORT, got '${raw}'`);
  if (ipOnly && isIP(host) === 0) bad(flag, `expected an IP address, got '${host}'`);
  return { host, port };
}

function integer(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,9}$/.test(raw)) bad(flag, `expected a whole number, got '${raw}'`);
  return Number(raw);
}

export function parseProxyFlags(flags: ReadonlyMap<string, readonly string[]>): ProxyDaemonConfig {
  for (const [name, values] of flags) {
    if (!KNOWN.has(name)) bad(name, 'unknown flag');
    if (name !== 'upstream' && values.length > 1) bad(name, 'given twice');
  }
  const one = (name: string) => flags.get(name)?.[0];
  const listenRaw = one('listen');
  if (listenRaw === undefined) bad('listen', 'is required');
  const upstreams = (flags.get('upstream') ?? []).map((u) => parseEndpoint('upstream', u));
  if (upstreams.length === 0) bad('upstream', 'at least one control-plane node is required');
  if (upstreams.length > MAX_UPSTREAMS) bad('upstream', `at most ${MAX_UPSTREAMS}`);
  const local = one('local-address');
  if (local !== undefined && isIP(local) === 0)
    bad('local-address', `expected an IP address, got '${local}'`);
  const strategy = one('strategy');
  if (strategy !== undefined && strategy !== 'round-robin' && strategy !== 'least-connections')
    bad('strategy', `expected round-robin or least-connections, got '${strategy}'`);
  const healthIntervalMs = integer('health-interval-ms', one('health-interval-ms'));
  const failThreshold = integer('fail-threshold', one('fail-threshold'));
  return {
    listen: parseEndpoint('listen', listenRaw, true),
    upstreams,
    ...(local !== undefined ? { localAddress: local } : {}),
    ...(strategy !== undefined ? { strategy } : {}),
    tuning: {
      ...(healthIntervalMs !== undefined ? { healthIntervalMs } : {}),
      ...(failThreshold !== undefined ? { failThreshold } : {}),
    },
  };
}

export function readProxyArgsFile(path: string): ProxyDaemonConfig {
  return parseProxyFlags(readArgsFile(path, { missingOk: true }));
}

/** The file a worker join writes: the control-plane nodes' API servers, port 16443. */
export function renderProxyArgs(options: {
  readonly listen: Endpoint;
  readonly controlPlane: readonly string[];
  readonly localAddress?: string;
}): string {
  const lines = [
    '# apiserver-proxy args (one flag per line); written by microk8s join --worker, editable by operators',
    `--listen=${endpointKey(options.listen)}`,
    ...options.controlPlane.map((host) => `--upstream=${endpointKey({ host, port: APISERVER_PROXY_PORT })}`),
    ...(options.localAddress ? [`--local-address=${options.localAddress}`] : []),
  ];
  return `${lines.join('\n')}\n`;
}
