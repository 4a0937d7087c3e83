/**
 * Shared pieces of the transport tests: real certificates from the PKI module in a temp dir,
 * transports on loopback addresses, a log capture, and bounded waiting.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureClusterCa, issueCertificate } from '../../src/cluster/pki.js';
import { type Message, MessageType } from '../../src/datastore/raft/types.js';
import { peerCertificateNames } from '../../src/datastore/transport/identity.js';
import type { TransportLimits } from '../../src/datastore/transport/limits.js';
import { type PeerAddress, PeerTransport } from '../../src/datastore/transport/peer-transport.js';
import { createLogger, type Logger, type LogLevel } from '../../src/lib/log.js';

export interface PemPair {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  ca: string;
  /** Peer certificates of the cluster CA, by node id. */
  peers: Map<number, PemPair>;
  /** A peer certificate for node 2 from ANOTHER CA. */
  foreign: PemPair & { ca: string };
  /** A client certificate of the cluster CA that names no peer. */
  client: PemPair;
  cleanup(): Promise<void>;
}

export const hostOf = (id: number): string => `127.0.1.${id}`;

async function pair(files: { certPath: string; keyPath: string }): Promise<PemPair> {
  return { cert: await readFile(files.certPath, 'utf8'), key: await readFile(files.keyPath, 'utf8') };
}

export async function makePki(ids: readonly number[]): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'mk-transport-'));
  const ca = await ensureClusterCa(join(dir, 'ca'));
  const peers = new Map<number, PemPair>();
  for (const id of ids) {
    const files = await issueCertificate(ca, join(dir, 'certs'), `peer-${id}`, {
      ...peerCertificateNames(id),
      ips: [hostOf(id)],
      usage: 'peer',
    });
    peers.set(id, await pair(files));
  }
  const otherCa = await ensureClusterCa(join(dir, 'other-ca'), { commonName: 'another-cluster' });
  const foreignFiles = await issueCertificate(otherCa, join(dir, 'other-certs'), 'peer-2', {
    ...peerCertificateNames(2),
    usage: 'peer',
  });
  const clientFiles = await issueCertificate(ca, join(dir, 'certs'), 'client', {
    commonName: 'admin',
    usage: 'client',
  });
  return {
    dir,
    ca: await readFile(ca.certPath, 'utf8'),
    peers,
    foreign: { ...(await pair(foreignFiles)), ca: await readFile(otherCa.certPath, 'utf8') },
    client: await pair(clientFiles),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface LogCapture {
  logger: Logger;
  records: Record<string, unknown>[];
}

/** A logger whose JSON lines are kept in memory (and not printed). */
export function captureLogs(component: string, level: LogLevel = 'info'): LogCapture {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger(component, {
    level,
    sink: { write: (line) => records.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { logger, records };
}

export const SHORT_LIMITS: Partial<TransportLimits> = {
  reconnectMinMs: 10,
  reconnectMaxMs: 200,
  handshakeTimeoutMs: 1000,
  writeStallTimeoutMs: 500,
};

export interface Node {
  id: number;
  transport: PeerTransport;
  inbox: Message[];
  logs: LogCapture;
}

export async function startNode(
  pki: TestPki,
  id: number,
  peers: ReadonlyMap<number, PeerAddress>,
  options: { port?: number; limits?: Partial<TransportLimits>; clusterId?: string; logLevel?: LogLevel } = {},
): Promise<Node> {
  const pem = pki.peers.get(id)!;
  const logs = captureLogs(`transport.${id}`, options.logLevel);
  const transport = new PeerTransport({
    id,
    clusterId: options.clusterId ?? 'test-cluster',
    listen: { host: hostOf(id), port: options.port ?? 0 },
    localAddress: hostOf(id),
    tls: { ca: pki.ca, cert: pem.cert, key: pem.key },
    peers,
    logger: logs.logger,
    limits: { ...SHORT_LIMITS, ...options.limits },
  });
  const inbox: Message[] = [];
  transport.onMessage((m) => inbox.push(m));
  await transport.start();
  return { id, transport, inbox, logs };
}

/** Start nodes on 127.0.1.<id> with ephemeral ports and tell each the others' addresses. */
export async function startCluster(
  pki: TestPki,
  ids: readonly number[],
  options: { limits?: Partial<TransportLimits>; logLevel?: LogLevel } = {},
): Promise<Node[]> {
  const nodes: Node[] = [];
  for (const id of ids) nodes.push(await startNode(pki, id, new Map(), options));
  const addresses = new Map(nodes.map((n) => [n.id, { host: hostOf(n.id), port: n.transport.port }]));
  for (const node of nodes) node.transport.setPeers(addresses);
  return nodes;
}

/** Poll until `condition` holds; fail after `timeoutMs` (every wait in the tests is bounded). */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** A heartbeat-sized message whose readSeq numbers it. */
export function numbered(from: number, to: number, seq: number, term = 1): Message {
  return { type: MessageType.Heartbeat, from, to, term, commit: seq, readSeq: seq };
}

/** An App message carrying one entry of `bytes` bytes. */
export function append(from: number, to: number, index: number, bytes = 100): Message {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (index + i) & 0xff;
  return {
    type: MessageType.App,
    from,
    to,
    term: 3,
    logTerm: 3,
    index: index - 1,
    commit: index - 1,
    entries: [{ term: 3, index, type: 0, data }],
  };
}
