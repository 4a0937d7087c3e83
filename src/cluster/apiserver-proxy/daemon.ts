/**
 * `microk8s apiserver-proxy run`: a worker's API endpoint as a daemon. It reads its args file,
 * runs the balancer, and stops on SIGTERM/SIGINT. SIGHUP reads the file again and replaces the
 * upstream list (the listen address stays: changing it needs a restart).
 *
 * The proxy lives in its own process, so what it sees (each upstream's health) is written to
 * <run>/apiserver-proxy.json after every health round: `microk8s status` reads it there.
 * The upstream list is the one the join wrote; it does not follow the cluster by itself.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DAEMON_UMASK } from '../../lib/file-modes.js';
import { createLogger } from '../../lib/log.js';
import type { Paths } from '../../lib/paths.js';
import { writeFileAtomic } from '../../node/atomic-write.js';
import { FOLLOW_LIMITS, followRound } from '../agent/cluster-args-follow.js';
import { agentContext } from '../agent/context.js';
import { RENEW_LIMITS, renewWorkerCertificates } from '../agent/renew.js';
import { PUBLIC_MODE } from '../files.js';
import { readProxyArgsFile } from './config.js';
import { PROXY_DEFAULTS } from './limits.js';
import { type ApiServerProxy, type ProxyStats, startApiServerProxy } from './proxy.js';

const log = createLogger('apiserver-proxy');

/** What the daemon publishes for status: its pid, when, and the proxy's stats. */
export interface ProxyStateFile extends ProxyStats {
  readonly pid: number;
  readonly at: string;
}

export function proxyStateFile(paths: Paths): string {
  return join(paths.run, 'apiserver-proxy.json');
}

export interface ProxyDaemonHandle {
  readonly proxy: ApiServerProxy;
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export async function runProxyDaemon(paths: Paths, argsFile: string): Promise<ProxyDaemonHandle> {
  // The daemon's own umask, not its starter's (its state file says its mode: it is public).
  process.umask(DAEMON_UMASK);
  const config = readProxyArgsFile(argsFile);
  const proxy = await startApiServerProxy({
    listen: config.listen,
    upstreams: config.upstreams,
    ...config.tuning,
    ...(config.strategy ? { strategy: config.strategy } : {}),
    ...(config.localAddress ? { localAddress: config.localAddress } : {}),
    logger: log,
  });
  const stateFile = proxyStateFile(paths);
  let writing = Promise.resolve();
  const publish = () => {
    const state: ProxyStateFile = { pid: process.pid, at: new Date().toISOString(), ...proxy.stats() };
    writing = writing
      .then(() => writeFileAtomic(stateFile, `${JSON.stringify(state)}\n`, { mode: PUBLIC_MODE }))
      .catch((error: unknown) => log.warn('cannot write the state file', { file: stateFile, error }));
  };
  publish();
  // The proxy checks on its own timer; this one only publishes what it found.
  const timer = setInterval(publish, config.tuning.healthIntervalMs ?? PROXY_DEFAULTS.healthIntervalMs);
  timer.unref();
  // The proxy runs on every worker for as long as the worker does: it renews the worker's
  // certificates before they expire (renew.ts decides whether it is time).
  const renew = () =>
    void renewWorkerCertificates(agentContext(paths), { force: false, restart: true }).catch(
      (error: unknown) => log.warn('could not renew the worker certificates; trying again later', { error }),
    );
  const renewTimer = setInterval(renew, RENEW_LIMITS.checkEveryMs);
  renewTimer.unref();
  renew();
  // A worker has no agent a `configure` roll could reach: it follows the cluster-wide kubelet
  // and kube-proxy args recorded in the keyspace (cluster-args-follow.ts), one round at a time.
  let following = false;
  const follow = () => {
    if (following) return;
    following = true;
    void followRound(paths)
      .catch((error: unknown) => log.warn('could not follow the cluster args; trying again later', { error }))
      .finally(() => {
        following = false;
      });
  };
  const followTimer = setInterval(follow, FOLLOW_LIMITS.everyMs);
  followTimer.unref();
  const reload = async () => {
    try {
      await proxy.setUpstreams(readProxyArgsFile(argsFile).upstreams);
      publish();
    } catch (error) {
      log.error('reload refused; the upstream list is unchanged', { file: argsFile, error });
    }
  };
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      clearInterval(timer);
      clearInterval(renewTimer);
      clearInterval(followTimer);
      process.off('SIGHUP', onHup);
      await proxy.stop();
      await writing;
      await rm(stateFile, { force: true });
    })().then(finish);
    return stopping;
  };
  const onHup = () => void reload();
  process.on('SIGHUP', onHup);
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  log.info('apiserver proxy running', { listen: proxy.stats().listen, argsFile });
  return { proxy, done, stop };
}
