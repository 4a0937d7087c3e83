/**
 * The worker node's API-server proxy: a TCP balancer on the node's API endpoint (port 16443)
 * over the control-plane nodes' API servers. It only moves bytes (TLS stays end to end between
 * the kubelet and the API server), so certificates and HTTP are none of its business.
 *
 * Each client connection goes to one healthy upstream. If connecting there fails, the next
 * healthy one is tried (each at most once), and the failure counts against the upstream's
 * health. With no healthy upstream the client connection is closed and the error reported as
 * MK_PROXY_NO_UPSTREAM.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { assert } from '../../lib/assert.js';
import { MicroK8sError } from '../../lib/errors.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { pickUpstream } from './balancer.js';
import { connectUpstream } from './connect.js';
import { HealthChecker } from './health.js';
import { APISERVER_PROXY_PORT, type BalanceStrategy, type ProxyTuning, resolveTuning } from './limits.js';
import { type Splice, splice } from './splice.js';
import { type Endpoint, endpointKey, type Upstream, UpstreamSet } from './upstreams.js';

export interface ProxyOptions extends Partial<ProxyTuning> {
  /** Where clients connect (port 0: any free port, see address()). Default port 16443. */
  readonly listen: { readonly host: string; readonly port?: number };
  readonly upstreams: readonly Endpoint[];
  readonly strategy?: BalanceStrategy;
  /** The node's own address, bound by every outgoing connection. */
  readonly localAddress?: string;
  readonly logger?: Logger;
  /** Told about each client connection that was closed because no upstream could take it. */
  readonly onReject?: (error: MicroK8sError) => void;
}

export interface UpstreamStats {
  readonly upstream: string;
  readonly healthy: boolean;
  readonly failures: number;
  readonly active: number;
  readonly total: number;
  readonly lastError?: string;
}

export interface ProxyStats {
  readonly listen: string;
  readonly strategy: BalanceStrategy;
  readonly active: number;
  readonly total: number;
  /** Closed because no upstream was healthy or reachable. */
  readonly rejected: number;
  /** Closed on arrival because maxConnections were open. */
  readonly dropped: number;
  readonly upstreams: UpstreamStats[];
}

export class ApiServerProxy {
  private readonly server: Server;
  private readonly upstreams: UpstreamSet;
  private readonly health: HealthChecker;
  private readonly tuning: ProxyTuning;
  private readonly strategy: BalanceStrategy;
  private readonly logger: Logger;
  private readonly splices = new Set<Splice>();
  private readonly pending = new Set<AbortController>();
  private turn = 0;
  private counts = { active: 0, total: 0, rejected: 0, dropped: 0 };
  private stopping = false;
  private bound: Endpoint | undefined;

  private constructor(private readonly options: ProxyOptions) {
    this.tuning = resolveTuning(options);
    this.strategy = options.strategy ?? 'round-robin';
    this.logger = options.logger ?? createLogger('apiserver-proxy');
    this.upstreams = new UpstreamSet(options.upstreams);
    this.health = new HealthChecker(this.upstreams, this.tuning, this.logger, options.localAddress);
    // Half-open: a client's end is passed to the upstream, and the answer still flows back.
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
      void this.handle(socket);
    });
    this.server.maxConnections = this.tuning.maxConnections;
    this.server.on('drop', () => {
      this.counts.dropped++;
    });
  }

  /** Check every upstream once, then listen and keep checking. */
  static async start(options: ProxyOptions): Promise<ApiServerProxy> {
    const proxy = new ApiServerProxy(options);
    await proxy.health.checkAll();
    await proxy.listen();
    proxy.health.start();
    return proxy;
  }

  private async listen(): Promise<void> {
    const { host, port = APISERVER_PROXY_PORT } = this.options.listen;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) =>
        reject(
          new MicroK8sError(
            'MK_PROXY_LISTEN',
            `cannot listen on ${endpointKey({ host, port })}: ${error.code ?? error.message}`,
            {
              host,
              port,
            },
          ),
        );
      this.server.once('error', onError);
      this.server.listen({ host, port }, () => {
        this.server.removeListener('error', onError);
        resolve();
      });
    });
    const a = this.server.address();
    assert(a !== null && typeof a === 'object', 'the proxy listens on TCP');
    this.bound = { host: a.address, port: a.port };
    this.server.on('error', (error) => this.logger.error('listener failed', { error }));
    this.logger.info('listening', {
      address: this.addressText(),
      upstreams: this.upstreams.all().map((u) => u.key),
    });
  }

  /** Where the proxy listens (kept after stop, for stats and logs). */
  address(): Endpoint {
    assert(this.bound !== undefined, 'the proxy has listened');
    return this.bound;
  }

  private addressText(): string {
    return endpointKey(this.address());
  }

  private async handle(client: Socket): Promise<void> {
    if (this.stopping) {
      client.destroy();
      return;
    }
    // Errors before the splice (a reset while we connect) only end this attempt.
    const early = (error: Error) => this.logger.debug('client error before forwarding', { error });
    client.on('error', early);
    const abort = new AbortController();
    const onClientGone = () => abort.abort();
    client.once('close', onClientGone);
    this.pending.add(abort);
    try {
      const tried = new Set<Upstream>();
      for (;;) {
        const candidates = this.upstreams.healthy().filter((u) => !tried.has(u));
        const target = pickUpstream(candidates, this.strategy, this.turn++);
        if (target === undefined) return this.reject(client, tried.size);
        tried.add(target);
        let upstream: Socket;
        try {
          upstream = await connectUpstream(target, {
            timeoutMs: this.tuning.connectTimeoutMs,
            signal: abort.signal,
            ...(this.options.localAddress ? { localAddress: this.options.localAddress } : {}),
          });
        } catch (error) {
          if (abort.signal.aborted) {
            client.destroy(); // gone already, or the proxy is stopping
            return;
          }
          this.health.recordFailure(
            target,
            (error as NodeJS.ErrnoException).code ?? (error as Error).message,
          );
          continue;
        }
        if (client.destroyed || this.stopping) {
          upstream.destroy();
          client.destroy();
          return;
        }
        this.health.recordSuccess(target);
        return this.forward(client, upstream, target, early, onClientGone);
      }
    } finally {
      this.pending.delete(abort);
    }
  }

  private forward(
    client: Socket,
    upstream: Socket,
    target: Upstream,
    early: (e: Error) => void,
    gone: () => void,
  ) {
    client.removeListener('error', early);
    client.removeListener('close', gone);
    target.active++;
    target.total++;
    this.counts.active++;
    this.counts.total++;
    const joined = splice(client, upstream, {
      lingerMs: this.tuning.lingerMs,
      onClose: (error) => {
        target.active--;
        this.counts.active--;
        this.splices.delete(joined);
        if (error) this.logger.debug('connection ended with an error', { upstream: target.key, error });
      },
    });
    this.splices.add(joined);
    client.resume();
  }

  private reject(client: Socket, tried: number): void {
    this.counts.rejected++;
    const error = new MicroK8sError(
      'MK_PROXY_NO_UPSTREAM',
      tried === 0
        ? `no healthy API server among ${this.upstreams.all().length} upstream(s); the client connection was closed`
        : `no API server accepted the connection (${tried} tried); the client connection was closed`,
      { upstreams: this.upstreams.all().map((u) => u.key) },
    );
    this.logger.warn('client connection closed: no upstream', { error, upstreams: error.info.upstreams });
    client.destroy();
    this.options.onReject?.(error);
  }

  /**
   * Replace the upstream list (the control-plane nodes changed). New upstreams are checked once
   * before they take traffic; upstreams that stay keep their health and connections.
   */
  async setUpstreams(endpoints: readonly Endpoint[]): Promise<void> {
    const known = new Set(this.upstreams.all().map((u) => u.key));
    this.upstreams.replace(endpoints, () => false);
    const fresh = this.upstreams.all().filter((u) => !known.has(u.key));
    await this.health.checkList(fresh);
    this.logger.info('upstreams replaced', { upstreams: this.upstreams.all().map((u) => u.key) });
  }

  /** Run a health-check round now (operators and tests; the timer runs them anyway). */
  checkNow(): Promise<void> {
    return this.health.checkAll();
  }

  stats(): ProxyStats {
    return {
      listen: this.addressText(),
      strategy: this.strategy,
      ...this.counts,
      upstreams: this.upstreams.all().map((u) => ({
        upstream: u.key,
        healthy: u.healthy,
        failures: u.failures,
        active: u.active,
        total: u.total,
        ...(u.lastError ? { lastError: u.lastError } : {}),
      })),
    };
  }

  /** Stop listening, stop checking, and cut every connection. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const abort of this.pending) abort.abort();
    for (const joined of this.splices) joined.destroy();
    await this.health.stop();
    await closed;
    this.logger.info('stopped');
  }
}

/** Start a proxy (see ProxyOptions); stop it with `stop()`. */
export function startApiServerProxy(options: ProxyOptions): Promise<ApiServerProxy> {
  return ApiServerProxy.start(options);
}
