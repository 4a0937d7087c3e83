/**
 * The datastore daemon's configuration: flags, from an args file under $SNAP_DATA/args/ (one
 * flag per line, as operators edit them) and/or the command line (which wins). Every value is
 * validated here, with a clear MK_INVALID_CONFIG error naming the flag.
 */
import { isIP } from 'node:net';
import { MicroK8sError } from '../../lib/errors.js';
import { checkLimit } from '../../lib/limits.js';
import { readArgsFile } from '../../node/args-file.js';
import type { ConfState, NodeId, Role } from '../raft/types.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface PeerConfig extends HostPort {
  readonly id: NodeId;
  /** The peer's client URL, for MemberList. */
  readonly clientUrl?: string;
  /** The peer's failure domain and weight, for the roles planner. */
  readonly failureDomain?: string;
  readonly weight?: number;
}

export interface DaemonConfig {
  readonly id: NodeId;
  readonly name: string;
  readonly clusterId: string;
  readonly dataDir: string;
  readonly peerListen: HostPort;
  readonly peers: readonly PeerConfig[];
  /** Initial membership of a new cluster (ignored once the log exists). */
  readonly bootstrap?: ConfState;
  readonly clientListen?: HostPort;
  readonly clientUnix?: string;
  readonly clientTlsListen?: HostPort;
  readonly caCert: string;
  readonly cert: string;
  readonly key: string;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly snapshotEntries: number;
  /** Entries kept behind a snapshot, so a slightly lagging follower gets entries, not a snapshot. */
  readonly compactionLag: number;
  /** Database size over which the NOSPACE alarm is raised and growing writes are refused. */
  readonly quotaBytes: number;
  readonly failureDomain: string;
  readonly weight: number;
  /** Roles planner targets (its defaults when absent: 3 voters, 3 standbys). */
  readonly targetVoters?: number;
  readonly targetStandbys?: number;
  /** A member unheard of for longer is reported dead in status (never removed automatically). */
  readonly deadAfterMs: number;
  /**
   * lease: the leader answers linearizable reads from its commit index while a quorum
   * acknowledged a heartbeat within the last (election-ticks - 2) ticks of the monotonic clock;
   * quorum: every read batch waits for a round of heartbeats (etcd's default, ReadIndex).
   */
  readonly readMode: 'lease' | 'quorum';
}

/** A datastore flag: its help text, and whether it may be given more than once. */
export interface DatastoreFlag {
  readonly description: string;
  readonly multiple?: true;
}

/**
 * Every flag of a datastore node, in args files and on the command line: the one table both
 * readers take their names from (daemon-cli.ts adds --args-file and the oclif flags).
 */
export const DATASTORE_FLAGS = {
  id: { description: 'this node id (a positive integer)' },
  name: { description: 'this node name' },
  'cluster-id': { description: 'the cluster name; peers of another cluster are refused' },
  'data-dir': { description: 'the folder of the Raft log and the database' },
  'peer-listen': { description: 'HOST:PORT of the peer transport (the node address)' },
  peer: { description: 'ID=HOST:PORT[,CLIENT_URL] of another member', multiple: true },
  bootstrap: { description: 'initial membership of a new cluster: 1=voter,2=voter,3=standby' },
  'client-listen': { description: 'HOST:PORT of plain etcd gRPC (loopback only)' },
  'client-unix': { description: 'unix socket of the etcd gRPC API (for the local kube-apiserver)' },
  'client-tls-listen': { description: 'HOST:PORT of the etcd gRPC API over TLS with client certificates' },
  'ca-cert': { description: 'cluster CA certificate (PEM)' },
  cert: { description: 'this node certificate (PEM)' },
  key: { description: 'this node private key (PEM)' },
  'tick-ms': { description: 'Raft tick in milliseconds (default 100)' },
  'election-ticks': { description: 'ticks of an election timeout (default 10)' },
  'snapshot-entries': { description: 'applied entries between snapshots (default 10000)' },
  'compaction-lag': { description: 'entries kept behind a snapshot (default 1000)' },
  'quota-bytes': { description: 'database size that raises the NOSPACE alarm (default 8 GiB)' },
  'failure-domain': { description: 'failure domain of this node (voters are spread across them)' },
  weight: { description: 'weight of this node (lower is preferred for voters)' },
  'target-voters': { description: 'voters the roles planner aims for (default 3)' },
  'target-standbys': { description: 'standbys the roles planner aims for (default 3)' },
  'dead-after': { description: 'seconds unheard before a member is reported dead (default 300)' },
  'read-mode': { description: 'lease (default: the leader reads under its lease) or quorum (ReadIndex)' },
} as const satisfies Record<string, DatastoreFlag>;

const FLAGS = new Set(Object.keys(DATASTORE_FLAGS));
const REPEATABLE = new Set(
  Object.entries(DATASTORE_FLAGS)
    .filter(([, spec]) => (spec as DatastoreFlag).multiple)
    .map(([name]) => name),
);

function bad(flag: string, message: string): never {
  throw new MicroK8sError('MK_INVALID_CONFIG', `--${flag}: ${message}`, { flag });
}

/**
 * Check the flags of an args file (read by the one reader, src/node/args-file.ts) against the
 * datastore's table: unknown names, a flag given twice and a flag without its value are refused.
 */
export function datastoreFlagsFrom(
  flags: ReadonlyMap<string, readonly string[]>,
  origin: string,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [name, values] of flags) {
    if (!FLAGS.has(name)) bad(name, `unknown flag in ${origin}`);
    if (values.length > 1 && !REPEATABLE.has(name)) bad(name, `given twice in ${origin}`);
    if (values.some((v) => v === '')) bad(name, `needs a value in ${origin}`);
    out.set(name, [...values]);
  }
  return out;
}

/** The datastore's args file, read and checked (MK_INVALID_CONFIG when missing or wrong). */
export function readDatastoreArgs(path: string): Map<string, string[]> {
  return datastoreFlagsFrom(readArgsFile(path), path);
}

export function parseHostPort(flag: string, value: string): HostPort {
  const at = value.lastIndexOf(':');
  if (at <= 0) bad(flag, `expected HOST:PORT, got '${value}'`);
  const host = value.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(value.slice(at + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) bad(flag, `invalid port in '${value}'`);
  if (isIP(host) === 0 && host !== 'localhost') bad(flag, `expected an IP address, got '${host}'`);
  return { host, port };
}

function parsePeer(value: string): PeerConfig {
  // ID=HOST:PORT[,CLIENT_URL[,FAILURE_DOMAIN[,WEIGHT]]]
  const m = /^(\d+)=([^,]+)(?:,([^,]*))?(?:,([^,]*))?(?:,(\d+))?$/.exec(value);
  if (!m) bad('peer', `expected ID=HOST:PORT[,CLIENT_URL[,FAILURE_DOMAIN[,WEIGHT]]], got '${value}'`);
  const id = Number(m[1]);
  if (!(id > 0 && Number.isSafeInteger(id))) bad('peer', `invalid id in '${value}'`);
  return {
    id,
    ...parseHostPort('peer', m[2]!),
    ...(m[3] ? { clientUrl: m[3] } : {}),
    ...(m[4] ? { failureDomain: m[4] } : {}),
    ...(m[5] ? { weight: Number(m[5]) } : {}),
  };
}

function parseBootstrap(value: string): ConfState {
  const members = value.split(',').map((part) => {
    const m = /^(\d+)=(voter|standby|spare)$/.exec(part.trim());
    if (!m) bad('bootstrap', `expected ID=voter|standby|spare[,...], got '${part}'`);
    return { id: Number(m[1]), role: m[2] as Role };
  });
  if (new Set(members.map((m) => m.id)).size !== members.length) bad('bootstrap', 'duplicate id');
  if (!members.some((m) => m.role === 'voter')) bad('bootstrap', 'needs at least one voter');
  return { members: members.sort((a, b) => a.id - b.id) };
}

function intFlag(
  flags: Map<string, string[]>,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = flags.get(name)?.[0];
  const value = raw === undefined ? fallback : Number(raw);
  try {
    return checkLimit({ name: `--${name}`, min, max, unit: '' }, value);
  } catch {
    return bad(name, `must be an integer from ${min} to ${max}, got '${raw}'`);
  }
}

/** Merge the args file (if any) with command-line tokens (which win) and validate. */
export function buildDaemonConfig(
  fileFlags: Map<string, string[]> | undefined,
  cliFlags: Map<string, string[]>,
): DaemonConfig {
  const flags = new Map(fileFlags ?? []);
  for (const [k, v] of cliFlags) flags.set(k, v);
  const one = (name: string): string => {
    const v = flags.get(name)?.[0];
    if (v === undefined || v === '') bad(name, 'is required');
    return v;
  };
  const id = intFlag(flags, 'id', 0, 1, 2 ** 31);
  const peers = (flags.get('peer') ?? []).map(parsePeer).filter((p) => p.id !== id);
  const bootstrapRaw = flags.get('bootstrap')?.[0];
  return {
    id,
    name: flags.get('name')?.[0] ?? `node${id}`,
    clusterId: one('cluster-id'),
    dataDir: one('data-dir'),
    peerListen: parseHostPort('peer-listen', one('peer-listen')),
    peers,
    ...(bootstrapRaw ? { bootstrap: parseBootstrap(bootstrapRaw) } : {}),
    ...(flags.has('client-listen')
      ? { clientListen: parseHostPort('client-listen', one('client-listen')) }
      : {}),
    ...(flags.has('client-unix') ? { clientUnix: one('client-unix') } : {}),
    ...(flags.has('client-tls-listen')
      ? { clientTlsListen: parseHostPort('client-tls-listen', one('client-tls-listen')) }
      : {}),
    caCert: one('ca-cert'),
    cert: one('cert'),
    key: one('key'),
    tickMs: intFlag(flags, 'tick-ms', 100, 5, 10_000),
    electionTicks: intFlag(flags, 'election-ticks', 10, 3, 1000),
    snapshotEntries: intFlag(flags, 'snapshot-entries', 10_000, 10, 10_000_000),
    compactionLag: intFlag(flags, 'compaction-lag', 1_000, 0, 10_000_000),
    quotaBytes: intFlag(flags, 'quota-bytes', 8 * 1024 ** 3, 64 * 1024, 64 * 1024 ** 4),
    failureDomain: parseFailureDomain(flags.get('failure-domain')?.[0] ?? 'default'),
    weight: intFlag(flags, 'weight', 0, 0, MAX_WEIGHT),
    ...(flags.has('target-voters') ? { targetVoters: intFlag(flags, 'target-voters', 3, 1, 9) } : {}),
    ...(flags.has('target-standbys') ? { targetStandbys: intFlag(flags, 'target-standbys', 3, 0, 9) } : {}),
    deadAfterMs: intFlag(flags, 'dead-after', 300, 1, 30 * 24 * 3600) * 1000,
    readMode: parseReadMode(flags.get('read-mode')?.[0] ?? 'lease'),
  };
}

export const MAX_WEIGHT = 1_000_000;

function parseReadMode(value: string): 'lease' | 'quorum' {
  if (value !== 'lease' && value !== 'quorum') bad('read-mode', `expected lease or quorum, got '${value}'`);
  return value;
}

/** A failure domain is a short name: letters, digits, '.', '_' and '-'. */
export function parseFailureDomain(value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(value)) {
    bad('failure-domain', `expected 1-63 letters, digits, '.', '_' or '-', got '${value}'`);
  }
  return value;
}

export function parseWeight(value: string): number {
  const n = Number(value);
  if (!(Number.isInteger(n) && n >= 0 && n <= MAX_WEIGHT))
    bad('weight', `must be an integer from 0 to ${MAX_WEIGHT}, got '${value}'`);
  return n;
}
