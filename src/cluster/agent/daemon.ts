/**
 * `microk8s agent run`: the cluster agent as the snap runs it, one process per node. It serves
 * with the node's API server certificate (issued by the cluster CA; add-node prints its hash)
 * and stops on SIGTERM/SIGINT.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { MicroK8sError } from '../../lib/errors.js';
import { versionInfo } from '../../lib/version.js';
import { type AgentBind, type AgentContext, readAgentBind } from './context.js';
import { AgentHandlers } from './handlers.js';
import { AgentServer } from './server.js';

export interface AgentHandle {
  readonly address: AddressInfo;
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export async function startAgent(ctx: AgentContext, bind?: AgentBind): Promise<AgentHandle> {
  const { certPath, keyPath } = ctx.certs.leaves.server;
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    throw new MicroK8sError(
      'MK_CERTS_MISSING',
      `the cluster agent needs ${certPath} and its key; set the node up with \`microk8s agent init\``,
    );
  }
  const server = new AgentServer({
    bind: bind ?? readAgentBind(ctx),
    certPath,
    keyPath,
    caPath: ctx.certs.ca.certPath,
    handlers: new AgentHandlers(ctx, versionInfo().version),
  });
  const address = await server.listen();
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= server.close().then(finish);
    return stopping;
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  return { address, done, stop };
}
