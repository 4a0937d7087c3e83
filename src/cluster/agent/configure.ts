/**
 * `configure`: change a service's args on this node, or on every control-plane node, and
 * restart it. The receiving agent applies the change to itself first, then passes the same
 * request (propagate false) to each other member's agent in turn, as a member (its own peer
 * certificate, the cluster CA): a rolling change. With a restart each node waits for its
 * service to serve again before the next one is touched, and the first node that does not come
 * back stops the roll (the others are reported as skipped), so a bad flag never takes down more
 * than one datastore. Every node gets a result {node, ok, code?, message?}.
 *
 * The other agents are assumed to listen on this agent's port (25000 unless --bind says
 * otherwise), as MicroK8s assumes.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMicroK8sError, MicroK8sError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import type { Paths } from '../../lib/paths.js';
import { isProcessAlive } from '../../lib/process.js';
import { editArgsFile, writeArgsFile } from '../../node/args-file.js';
import { type ServiceName, serviceArgsFile, serviceSpec } from '../../services/catalog.js';
import { type RestartOutcome, restartService } from '../../services/restart.js';
import { localApiRequest } from '../kubernetes/local-api.js';
import { adminTls } from '../kubernetes/node-daemons.js';
import { AgentClient } from './client.js';
import { type AgentContext, agentContext, readAgentBind, readDatastoreConfig } from './context.js';
import { localStatusIfRunning } from './local-datastore.js';
import { waitForProxy } from './processes.js';
import {
  API_PREFIX,
  type ConfigureNodeResult,
  type ConfigureRequest,
  type ConfigureResponse,
  type ServiceArgsRequest,
  type ServiceArgsResponse,
} from './protocol.js';

const log = createLogger('cluster.agent');

export const CONFIGURE_LIMITS = {
  /** A restarted datastore must serve and know a leader again within this. */
  readyWaitMs: 60_000,
  readyPollMs: 250,
  /** One node's answer (its restart included) / the whole cluster's, for the CLI. */
  nodeTimeoutMs: 3 * 60_000,
  clusterTimeoutMs: 15 * 60_000,
  /** A restarted API server answers /readyz within this (it waits for its datastore and caches). */
  apiServerReadyMs: 180_000,
  /** One member's args read back (status asks every member: a dead one must not hold it long). */
  readTimeoutMs: 3_000,
} as const;

export interface ConfigureTarget {
  readonly id: number;
  /** Its address (the host of its peer listener). */
  readonly host: string;
}

/**
 * A restarted datastore serves again: it answers on its admin socket and knows a leader. The pid
 * is unknown in a snap; then only the deadline says it did not come back.
 */
async function datastoreReady(dataDir: string, pid: number | undefined): Promise<void> {
  const deadline = Date.now() + CONFIGURE_LIMITS.readyWaitMs;
  while (Date.now() < deadline) {
    const status = await localStatusIfRunning(dataDir).catch(() => undefined);
    if (status !== undefined && status.leader !== 0) return;
    if (pid !== undefined && !isProcessAlive(pid))
      throw new MicroK8sError(
        'MK_SERVICE_RESTART',
        `the datastore (pid ${pid}) exited after the restart; see its log`,
      );
    await sleep(CONFIGURE_LIMITS.readyPollMs);
  }
  throw new MicroK8sError(
    'MK_SERVICE_RESTART',
    `the restarted datastore${pid === undefined ? '' : ` (pid ${pid})`} did not serve with a leader within ${CONFIGURE_LIMITS.readyWaitMs / 1000} s`,
  );
}

function readinessOf(
  ctx: AgentContext,
  service: ServiceName,
): ((pid: number | undefined) => Promise<void>) | undefined {
  if (service === 'datastore') return (pid) => datastoreReady(readDatastoreConfig(ctx).dataDir, pid);
  if (service === 'apiserver-proxy')
    return async (pid) => {
      // In a snap the proxy's pid is unknown here; its state file is not waited for then.
      if (pid !== undefined) await waitForProxy(ctx.paths, pid, CONFIGURE_LIMITS.readyWaitMs);
    };
  if (service === 'kube-apiserver') return () => apiServerReady(ctx);
  return undefined;
}

/**
 * A restarted API server serves: this node's /readyz answers 200 with the admin identity. A
 * roll over the control plane waits for it before the next node's API server goes down.
 */
async function apiServerReady(ctx: AgentContext): Promise<void> {
  const deadline = Date.now() + CONFIGURE_LIMITS.apiServerReadyMs;
  while (Date.now() < deadline) {
    const answer = await localApiRequest(adminTls(ctx.paths), { method: 'GET', path: '/readyz' });
    if (answer?.status === 200) return;
    await sleep(CONFIGURE_LIMITS.readyPollMs * 2);
  }
  throw new MicroK8sError(
    'MK_SERVICE_RESTART',
    `the restarted kube-apiserver did not answer /readyz within ${CONFIGURE_LIMITS.apiServerReadyMs / 1000} s`,
  );
}

function restartText(outcome: RestartOutcome): string {
  switch (outcome.kind) {
    case 'restarted':
      return `restarted (pid ${outcome.previousPid} -> ${outcome.pid}${outcome.killed ? ', killed' : ''})`;
    case 'restarted-by-snap':
      return `restarted (${outcome.app})`;
    default:
      return outcome.reason;
  }
}

function failed(node: string, address: string, error: unknown): ConfigureNodeResult {
  if (isMicroK8sError(error)) return { node, address, ok: false, code: error.code, message: error.message };
  log.error('configure failed', { node, error });
  return { node, address, ok: false, code: 'MK_INTERNAL', message: 'the change failed; see the agent log' };
}

/** This node's part: the args file, then the restart (an error is the node's result). */
async function configureHere(
  ctx: AgentContext,
  req: ConfigureRequest,
  self: ConfigureTarget,
): Promise<ConfigureNodeResult> {
  const node = `node${self.id}`;
  try {
    const service = serviceSpec(req.service).name;
    const edit = await editArgsFile(serviceArgsFile(ctx.paths, service), {
      set: req.set,
      remove: req.remove,
    });
    const base = { node, address: self.host, ok: true, changed: edit.changed };
    if (!req.restart) return base;
    const readiness = readinessOf(ctx, service);
    const options = readiness ? { waitReady: readiness } : {};
    let outcome: RestartOutcome;
    try {
      outcome = await restartService(ctx.paths, service, options);
    } catch (error) {
      // The service did not come back with the change: put the previous args back and restart
      // it on them, so a bad flag leaves no node down (the roll stops at this node anyway).
      if (!edit.changed) throw error;
      await writeArgsFile(edit.file, edit.previous);
      const restored = await restartService(ctx.paths, service, options).then(
        () => 'the previous args were restored and the service restarted on them',
        (again: unknown) =>
          `the previous args were restored, but the service did not come back on them either: ${(again as Error).message}`,
      );
      log.warn('a configure change was rolled back', { service, set: edit.set, removed: edit.removed });
      throw new MicroK8sError(
        isMicroK8sError(error) ? error.code : 'MK_SERVICE_RESTART',
        `${(error as Error).message}; ${restored}`,
      );
    }
    log.info('service configured', { service, set: edit.set, removed: edit.removed, restart: outcome.kind });
    return {
      ...base,
      restart: outcome.kind,
      message: restartText(outcome),
      ...(outcome.kind === 'restarted' ? { pid: outcome.pid } : {}),
    };
  } catch (error) {
    return failed(node, self.host, error);
  }
}

function memberCredentials(ctx: AgentContext): { ca: string; clientCert: { cert: string; key: string } } {
  const peer = ctx.certs.leaves.peer;
  try {
    return {
      ca: readFileSync(ctx.certs.ca.certPath, 'utf8'),
      clientCert: { cert: readFileSync(peer.certPath, 'utf8'), key: readFileSync(peer.keyPath, 'utf8') },
    };
  } catch {
    throw new MicroK8sError(
      'MK_AGENT_UNAUTHORIZED',
      `this node has no member certificate (${peer.certPath}); run it on a control-plane node`,
    );
  }
}

/** One request to an agent, as a member of the cluster. */
async function callAgent<T = ConfigureResponse>(
  ctx: AgentContext,
  target: { host: string; port: number; localAddress?: string },
  body: ConfigureRequest | ServiceArgsRequest,
  timeoutMs: number,
  path = `${API_PREFIX}/configure`,
): Promise<T> {
  const client = new AgentClient({
    host: target.host,
    port: target.port,
    skipVerify: false,
    ...memberCredentials(ctx),
    ...(target.localAddress ? { localAddress: target.localAddress } : {}),
    responseTimeoutMs: timeoutMs,
  });
  try {
    return await client.request<T>('POST', path, body);
  } finally {
    await client.close();
  }
}

/** This node, then every other member in turn (see the top of the file for the order). */
export async function configureNodes(
  ctx: AgentContext,
  req: ConfigureRequest,
  self: ConfigureTarget,
  others: readonly ConfigureTarget[],
): Promise<ConfigureResponse> {
  const results: ConfigureNodeResult[] = [await configureHere(ctx, req, self)];
  const port = readAgentBind(ctx).port;
  for (const member of others) {
    const node = `node${member.id}`;
    const stopAt = req.restart ? results.find((r) => !r.ok) : undefined;
    if (stopAt) {
      results.push({
        node,
        address: member.host,
        ok: false,
        code: 'MK_CONFIGURE_SKIPPED',
        message: `not changed: ${stopAt.node} failed first (${stopAt.code})`,
      });
      continue;
    }
    try {
      const forwarded = { ...req, propagate: false };
      const target = { host: member.host, port, localAddress: self.host };
      const answer = await callAgent(ctx, target, forwarded, CONFIGURE_LIMITS.nodeTimeoutMs);
      results.push(...answer.results.map((r) => ({ ...r, node, address: member.host })));
    } catch (error) {
      results.push(failed(node, member.host, error));
    }
  }
  return { service: req.service, results };
}

/** Another member's args of a service (its agent, as a member). */
export async function readServiceArgsAt(
  ctx: AgentContext,
  host: string,
  req: ServiceArgsRequest,
  localAddress: string,
): Promise<ServiceArgsResponse> {
  const target = { host, port: readAgentBind(ctx).port, localAddress };
  return callAgent<ServiceArgsResponse>(
    ctx,
    target,
    req,
    CONFIGURE_LIMITS.readTimeoutMs,
    `${API_PREFIX}/service-args`,
  );
}

/** This node's own agent: its --bind (loopback when it binds every address). */
function ownAgent(ctx: AgentContext): { host: string; port: number; localAddress?: string } {
  const bind = readAgentBind(ctx);
  const wildcard = bind.host === '0.0.0.0' || bind.host === '::';
  const host = wildcard ? '127.0.0.1' : bind.host;
  return { host, port: bind.port, ...(wildcard || isIP(host) === 0 ? {} : { localAddress: host }) };
}

/** The CLI's side: ask this node's own agent, with this node's member certificate. */
export async function requestConfigure(paths: Paths, req: ConfigureRequest): Promise<ConfigureResponse> {
  const ctx = agentContext(paths);
  return callAgent(
    ctx,
    ownAgent(ctx),
    req,
    req.propagate ? CONFIGURE_LIMITS.clusterTimeoutMs : CONFIGURE_LIMITS.nodeTimeoutMs,
  );
}

/** A service's args on this node, or (`all`) on every control-plane node, through this node's agent. */
export async function requestServiceArgs(
  paths: Paths,
  req: ServiceArgsRequest,
): Promise<ServiceArgsResponse> {
  const ctx = agentContext(paths);
  return callAgent<ServiceArgsResponse>(
    ctx,
    ownAgent(ctx),
    req,
    CONFIGURE_LIMITS.readTimeoutMs * 4,
    `${API_PREFIX}/service-args`,
  );
}
