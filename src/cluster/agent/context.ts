/**
 * Everything the cluster agent and the join flow need to know about this node, from its paths
 * and its args files: where the certificates, the token store and the datastore live, and how
 * to reach the local datastore. Built once per command or per agent process; the datastore
 * args file is read again whenever it is needed, because a join rewrites it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildDaemonConfig, type DaemonConfig, readDatastoreArgs } from '../../datastore/node/config.js';
import { MicroK8sError } from '../../lib/errors.js';
import type { Paths } from '../../lib/paths.js';
import { readArgsFile } from '../../node/args-file.js';
import { type CertsLayout, certsLayout } from '../pki/layout.js';
import { AGENT_LIMITS } from './limits.js';

export interface AgentContext {
  readonly paths: Paths;
  readonly certs: CertsLayout;
  /** The args files of the two daemons, one flag per line (as under $SNAP_DATA/args). */
  readonly datastoreArgs: string;
  readonly agentArgs: string;
  /** Where join-tokens.json lives: SNAP_DATA/credentials, as MicroK8s keeps its tokens. */
  readonly credentials: string;
  /** The default datastore folder; the args file's --data-dir wins. */
  readonly datastoreDir: string;
}

export function agentContext(paths: Paths): AgentContext {
  return {
    paths,
    certs: certsLayout(paths.certs),
    datastoreArgs: join(paths.args, 'datastore'),
    agentArgs: join(paths.args, 'cluster-agent'),
    credentials: join(paths.data, 'credentials'),
    datastoreDir: paths.datastore,
  };
}

/** The datastore's validated configuration, from its args file. */
export function readDatastoreConfig(ctx: AgentContext): DaemonConfig {
  if (!existsSync(ctx.datastoreArgs)) {
    throw new MicroK8sError(
      'MK_NOT_RUNNING',
      `this node has no datastore configuration (${ctx.datastoreArgs}); set it up with \`microk8s agent init\``,
    );
  }
  return buildDaemonConfig(readDatastoreArgs(ctx.datastoreArgs), new Map());
}

/** The datastore's data folder: its args file's --data-dir, else the default folder. */
export function datastoreDataDir(ctx: AgentContext): string {
  if (!existsSync(ctx.datastoreArgs)) return ctx.datastoreDir;
  try {
    return readDatastoreArgs(ctx.datastoreArgs).get('data-dir')?.[0] ?? ctx.datastoreDir;
  } catch {
    return ctx.datastoreDir;
  }
}

export function adminSocket(dataDir: string): string {
  return join(dataDir, 'admin.sock');
}

export interface AgentBind {
  readonly host: string;
  readonly port: number;
}

/**
 * --bind of the cluster-agent args file (HOST:PORT, IPv6 in brackets); all addresses on the
 * default port when there is no file.
 */
export function readAgentBind(ctx: AgentContext): AgentBind {
  if (!existsSync(ctx.agentArgs)) return { host: '0.0.0.0', port: AGENT_LIMITS.defaultPort };
  const raw = readArgsFile(ctx.agentArgs).get('bind')?.[0];
  return raw === undefined ? { host: '0.0.0.0', port: AGENT_LIMITS.defaultPort } : parseBind(raw);
}

export function parseBind(raw: string): AgentBind {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(raw.trim());
  const port = Number(m?.[3]);
  if (!m || !(port >= 1 && port <= 65535)) {
    throw new MicroK8sError('MK_INVALID_CONFIG', `--bind: expected HOST:PORT, got '${raw}'`, {
      flag: 'bind',
    });
  }
  return { host: (m[1] ?? m[2])!, port };
}
