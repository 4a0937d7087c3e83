/**
 * The datastore args file a node runs with ($SNAP_DATA/args/datastore, one flag per line), as
 * written by `agent init` (a single-node cluster: --bootstrap) and by `join` (no --bootstrap:
 * the node enters an existing group; --peer lines name the members it can reach first, the
 * replicated member table does the rest).
 */
import { join } from 'node:path';
import { readDatastoreArgs } from '../../datastore/node/config.js';
import { formatHostPort } from '../../lib/host-port.js';
import type { CertsLayout } from '../pki/layout.js';
import { AGENT_LIMITS } from './limits.js';
import type { MemberEndpoint } from './protocol.js';

export interface DatastoreArgs {
  readonly id: number;
  readonly clusterId: string;
  readonly dataDir: string;
  readonly address: string;
  readonly peerPort: number;
  readonly clientPort: number;
  readonly certs: CertsLayout;
  readonly failureDomain?: string;
  /** A new single-node cluster. */
  readonly bootstrap?: boolean;
  /** A joiner: the membership the cluster's logs start from (see ControlPlaneJoinResponse). */
  readonly startFrom?: string;
  readonly peers?: readonly MemberEndpoint[];
}

export function etcdSocketPath(dataDir: string): string {
  return join(dataDir, 'etcd.sock');
}

export function renderDatastoreArgs(a: DatastoreArgs): string {
  const lines = [
    `--id=${a.id}`,
    `--name=node${a.id}`,
    `--cluster-id=${a.clusterId}`,
    `--data-dir=${a.dataDir}`,
    `--peer-listen=${formatHostPort(a.address, a.peerPort)}`,
    // The etcd API over mutual TLS on the node address (other members, operators with a client
    // certificate) and on a local socket (the API server of this node).
    `--client-tls-listen=${formatHostPort(a.address, a.clientPort)}`,
    `--client-unix=${etcdSocketPath(a.dataDir)}`,
    `--ca-cert=${a.certs.ca.certPath}`,
    `--cert=${a.certs.leaves.peer.certPath}`,
    `--key=${a.certs.leaves.peer.keyPath}`,
    `--failure-domain=${a.failureDomain ?? 'default'}`,
    ...(a.bootstrap ? [`--bootstrap=${a.id}=voter`] : a.startFrom ? [`--bootstrap=${a.startFrom}`] : []),
    ...(a.peers ?? [])
      .filter((p) => p.id !== a.id && p.peerAddress !== '')
      .map((p) => `--peer=${p.id}=${p.peerAddress}${p.clientUrl ? `,${p.clientUrl}` : ''}`),
  ];
  return `# datastore args (one flag per line); written by microk8s, editable by operators\n${lines.join('\n')}\n`;
}

/** The ports of an existing args file, so a join keeps what the operator chose. */
export function existingPorts(path: string): { peerPort: number; clientPort: number } {
  const port = (value: string | undefined, fallback: number) => {
    const n = Number(/:(\d+)$/.exec(value ?? '')?.[1]);
    return Number.isInteger(n) && n > 0 ? n : fallback;
  };
  let flags: Map<string, string[]>;
  try {
    flags = readDatastoreArgs(path);
  } catch {
    // No file or an odd one: the join writes a fresh file with the defaults.
    return { peerPort: AGENT_LIMITS.defaultPeerPort, clientPort: AGENT_LIMITS.defaultClientPort };
  }
  return {
    peerPort: port(flags.get('peer-listen')?.[0], AGENT_LIMITS.defaultPeerPort),
    clientPort: port(flags.get('client-tls-listen')?.[0], AGENT_LIMITS.defaultClientPort),
  };
}
