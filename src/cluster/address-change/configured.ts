/**
 * The address this node is configured to be reached at: the datastore's --peer-listen host (what
 * its peers dial), else the cluster agent's --bind host when it names one address (a node with no
 * datastore). A wildcard bind follows every address by itself and names nothing to follow.
 */
import { existsSync } from 'node:fs';
import { parseHostPort, readDatastoreArgs } from '../../datastore/node/config.js';
import { type AgentContext, readAgentBind } from '../agent/context.js';

export function configuredAddress(ctx: AgentContext): string | undefined {
  if (existsSync(ctx.datastoreArgs)) {
    const listen = readDatastoreArgs(ctx.datastoreArgs).get('peer-listen')?.[0];
    if (listen !== undefined) return parseHostPort('peer-listen', listen).host;
  }
  const bind = readAgentBind(ctx).host;
  return bind === '0.0.0.0' || bind === '::' ? undefined : bind;
}
