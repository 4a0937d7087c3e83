/**
 * `microk8s agent run`: the cluster agent as the snap runs it, one process per node. It serves
 * with the node's API server certificate (issued by the cluster CA; add-node prints its hash)
 * and stops on SIGTERM/SIGINT.
 *
 * It also follows this node's address (../address-change): checked once before binding (the
 * old address may be gone already) and then periodically; after a change was followed the
 * server is started again, on the new --bind and with the re-issued certificate.
 */

import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { MicroK8sError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { versionInfo } from '../../lib/version.js';
import { loadNodeRecord } from '../../node/record.js';
import { AddressWatcher, type AddressWatcherOptions } from '../address-change/watch.js';
import { type AgentBind, type AgentContext, readAgentBind } from './context.js';
import { AgentHandlers } from './handlers.js';
import { AgentServer } from './server.js';

const log = createLogger('cluster.agent');

export interface AgentHandle {
  /** Where the agent listens now (it moves with the node's address). */
  readonly address: AddressInfo;
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export interface StartAgentOptions {
  /** Follow address changes (default true); the interval and interface table are for tests. */
  readonly watchAddress?: boolean;
  readonly addressWatch?: Omit<AddressWatcherOptions, 'onMoved'>;
}

function serverFor(ctx: AgentContext, bind: AgentBind, handlers: AgentHandlers): AgentServer {
  const { certPath, keyPath } = ctx.certs.leaves.server;
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    throw new MicroK8sError(
      'MK_CERTS_MISSING',
      `the cluster agent needs ${certPath} and its key; set the node up with \`microk8s agent init\``,
    );
  }
  return new AgentServer({ bind, certPath, keyPath, caPath: ctx.certs.ca.certPath, handlers });
}

export async function startAgent(
  ctx: AgentContext,
  bind?: AgentBind,
  options: StartAgentOptions = {},
): Promise<AgentHandle> {
  // A node made by an earlier version gets its node record now, before anything asks what it is.
  await loadNodeRecord(ctx.paths);
  const handlers = new AgentHandlers(ctx, versionInfo().version);
  // A --bind given on the command line is followed too when it named the old address.
  let current: AgentBind | undefined = bind;
  let server: AgentServer | undefined;
  let address: AddressInfo | undefined;
  const rebind = async (from: string, to: string) => {
    if (current?.host === from) current = { host: to, port: current.port };
    const next = serverFor(ctx, current ?? readAgentBind(ctx), handlers);
    await server?.close();
    server = undefined;
    // Only a server that listens counts: a failed bind is tried again at the next check.
    address = await next.listen();
    server = next;
    log.info('cluster agent serving again after the address change', { address: address.address });
  };
  const watcher =
    options.watchAddress === false
      ? undefined
      : new AddressWatcher(ctx, {
          ...options.addressWatch,
          onMoved: rebind,
        });
  await watcher?.check();
  // The watcher's first check may have rebound already (a change followed before the first bind).
  if (server === undefined) {
    server = serverFor(ctx, current ?? readAgentBind(ctx), handlers);
    address = await server.listen();
  }
  watcher?.start();
  // Only a control-plane node (it has a datastore) holds a name the cluster must protect.
  if (existsSync(ctx.datastoreArgs)) void handlers.claimOwnName();
  const { promise: done, resolve: finish } = Promise.withResolvers<void>();
  let stopping: Promise<void> | undefined;
  const closeAll = async () => {
    await watcher?.stop();
    await server?.close();
  };
  const stop = () => {
    stopping ??= closeAll().then(finish);
    return stopping;
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  return {
    get address() {
      return address!;
    },
    done,
    stop,
  };
}
