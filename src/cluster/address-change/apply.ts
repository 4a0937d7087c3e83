/**
 * Following a decided address change on this node: certificates re-issued for the new address,
 * the datastore stopped, its listen addresses and the agent's --bind rewritten (every other flag
 * kept), the datastore started again. Its peers need not be told: the datastore announces its
 * listen address in its peer hello and then in the replicated member table.
 *
 * The args files are rewritten only once the datastore is down: they are what the next check
 * reads, so a failure before that point (a datastore that would not stop) leaves the change
 * still pending and the next check tries again.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { parseHostPort, readDatastoreArgs } from '../../datastore/node/config.js';
import { formatHostPort } from '../../lib/host-port.js';
import { createLogger } from '../../lib/log.js';
import { editArgsFile, readArgsFile } from '../../node/args-file.js';
import { serviceArgsFile } from '../../services/catalog.js';
import { type StopOutcome, startService, stopService, withServiceLock } from '../../services/restart.js';
import { type AgentContext, parseBind, readAgentBind } from '../agent/context.js';
import { usableAddresses } from '../join/addresses.js';
import { KUBERNETES_DNS_NAMES } from '../pki/names.js';
import { type CertificateAction, ensureNodeCertificates } from '../pki/node-set.js';
import { canonicalIp } from '../pki/validity.js';
import { parseSubjectAltNames } from '../pki.js';
import type { InterfaceTable } from './decide.js';

const log = createLogger('cluster.address');

/** The datastore flags that carry this node's own address (the rest name other nodes or files). */
const LISTEN_FLAGS = ['peer-listen', 'client-tls-listen', 'client-listen'] as const;

export interface AddressChange {
  readonly from: string;
  readonly to: string;
  /** How the new address was chosen (logged). */
  readonly rule?: string;
  readonly interface?: string;
}

export interface AppliedChange extends AddressChange {
  /** Datastore flags rewritten, as `flag=value`. */
  readonly datastoreFlags: readonly string[];
  /** The agent's new --bind, when it named the old address. */
  readonly agentBind?: string;
  /** Certificates issued again (names and reasons only). */
  readonly certificates: readonly CertificateAction[];
  readonly datastore: StopOutcome;
  /** The restarted datastore's pid, when it was restarted here. */
  readonly datastorePid?: number;
}

/** The flags to set in the datastore args (nothing when it has none). */
function datastoreUpdates(ctx: AgentContext, change: AddressChange): Record<string, string> {
  if (!existsSync(ctx.datastoreArgs)) return {};
  const flags = readDatastoreArgs(ctx.datastoreArgs);
  const updates: Record<string, string> = {};
  for (const flag of LISTEN_FLAGS) {
    const value = flags.get(flag)?.[0];
    if (value === undefined) continue;
    const { host, port } = parseHostPort(flag, value);
    if (sameIp(host, change.from)) updates[flag] = formatHostPort(change.to, port);
  }
  return updates;
}

/** The decision compares canonical forms (2001:DB8::5 is 2001:db8::5); so must the rewrite. */
function sameIp(host: string, canonical: string): boolean {
  return isIP(host) !== 0 && canonicalIp(host) === canonical;
}

/** A worker's API-server proxy dials out from its node address (--local-address). */
function proxyUpdates(ctx: AgentContext, change: AddressChange): Record<string, string> {
  const file = serviceArgsFile(ctx.paths, 'apiserver-proxy');
  if (!existsSync(file)) return {};
  const local = readArgsFile(file).get('local-address')?.[0];
  return local !== undefined && sameIp(local, change.from) ? { 'local-address': change.to } : {};
}

function agentBindUpdate(ctx: AgentContext, change: AddressChange): string | undefined {
  if (!existsSync(ctx.agentArgs)) return undefined;
  const bind = readAgentBind(ctx);
  if (!sameIp(bind.host, change.from)) return undefined;
  const value = formatHostPort(change.to, bind.port);
  parseBind(value);
  return value;
}

/** The hostname the certificates already carry (the node's name must not change with its IP). */
async function certifiedHostname(ctx: AgentContext): Promise<string> {
  try {
    const cert = new X509Certificate(await readFile(ctx.certs.leaves.server.certPath));
    const known = new Set<string>(KUBERNETES_DNS_NAMES);
    const own = parseSubjectAltNames(cert.subjectAltName)
      .filter((san) => san.startsWith('DNS:'))
      .map((san) => san.slice(4))
      .find((name) => !known.has(name));
    if (own !== undefined) return own;
  } catch {
    // no readable certificate: the machine's hostname, as at init
  }
  return osHostname();
}

/**
 * The new address first, then every usable one, then the loopback aliases the old certificate
 * named (a lab node's 127.x address is not in the interface table); never the old address.
 */
async function certificateIps(ctx: AgentContext, change: AddressChange, table: InterfaceTable) {
  let aliases: string[] = [];
  try {
    const cert = new X509Certificate(await readFile(ctx.certs.leaves.server.certPath));
    aliases = parseSubjectAltNames(cert.subjectAltName)
      .filter((san) => san.startsWith('IP:127.'))
      .map((san) => san.slice(3));
  } catch {
    aliases = [];
  }
  const usable = usableAddresses(table).map((a) => a.address);
  return [...new Set([change.to, ...usable, ...aliases])].filter((ip) => ip !== change.from);
}

async function reissueCertificates(
  ctx: AgentContext,
  change: AddressChange,
  table: InterfaceTable,
): Promise<CertificateAction[]> {
  // Without the cluster CA's key (a worker) nothing can be issued here, and ensureNodeCertificates
  // would create a CA of its own: leave the certificates alone.
  if (!existsSync(ctx.certs.ca.certPath) || !existsSync(ctx.certs.ca.keyPath)) {
    log.warn('no cluster CA key on this node: certificates are not re-issued for the new address');
    return [];
  }
  const { actions } = await ensureNodeCertificates(ctx.certs.dir, {
    hostname: await certifiedHostname(ctx),
    ips: await certificateIps(ctx, change, table),
  });
  return actions.filter((a) => a.action !== 'kept');
}

/**
 * Stop a service, rewrite its args, start it again: under the service's lock (a configure roll
 * may restart it too), and started again even when the rewrite failed, so a failure never
 * leaves it down. A service that was not running here is only rewritten.
 */
async function restartAround(
  ctx: AgentContext,
  service: 'datastore' | 'apiserver-proxy',
  rewrite: () => Promise<unknown>,
): Promise<{ outcome: StopOutcome; pid?: number }> {
  return withServiceLock(ctx.paths, service, async () => {
    const outcome = await stopService(ctx.paths, service);
    const stopped = outcome.kind === 'stopped' || outcome.kind === 'stopped-by-snap';
    let pid: number | undefined;
    try {
      await rewrite();
    } finally {
      // A rewrite that failed still starts the service again (on its old args), then throws.
      if (stopped) pid = await startService(ctx.paths, service);
    }
    return pid === undefined ? { outcome } : { outcome, pid };
  });
}

export async function applyAddressChange(
  ctx: AgentContext,
  change: AddressChange,
  table: InterfaceTable,
): Promise<AppliedChange> {
  log.info("this node's address changed; following it", {
    from: change.from,
    to: change.to,
    interface: change.interface ?? null,
    rule: change.rule ?? null,
  });
  const certificates = await reissueCertificates(ctx, change, table);
  const updates = datastoreUpdates(ctx, change);
  const agentBind = agentBindUpdate(ctx, change);
  if (agentBind !== undefined) await editArgsFile(ctx.agentArgs, { set: { bind: agentBind } });
  const proxy = proxyUpdates(ctx, change);
  if (Object.keys(proxy).length > 0) {
    await restartAround(ctx, 'apiserver-proxy', () =>
      editArgsFile(serviceArgsFile(ctx.paths, 'apiserver-proxy'), { set: proxy }),
    );
  }
  const { outcome: datastore, pid: datastorePid } =
    Object.keys(updates).length === 0
      ? { outcome: { kind: 'not-running' as const, reason: 'its args name no address of this node' } }
      : await restartAround(ctx, 'datastore', () => editArgsFile(ctx.datastoreArgs, { set: updates }));
  const stopped = datastore.kind === 'stopped' || datastore.kind === 'stopped-by-snap';
  const applied: AppliedChange = {
    from: change.from,
    to: change.to,
    datastoreFlags: Object.entries(updates).map(([flag, value]) => `${flag}=${value}`),
    ...(agentBind === undefined ? {} : { agentBind }),
    certificates,
    datastore,
    ...(datastorePid === undefined ? {} : { datastorePid }),
  };
  log.info('followed the address change', {
    from: change.from,
    to: change.to,
    datastoreFlags: applied.datastoreFlags,
    agentBind: agentBind ?? null,
    certificates: certificates.map((c) => c.name),
    datastore: datastore.kind === 'stopped' && datastore.killed ? 'killed' : datastore.kind,
    datastorePid: datastorePid ?? null,
  });
  if (!stopped) log.warn(`restart the datastore: ${(datastore as { reason: string }).reason}`);
  return applied;
}
