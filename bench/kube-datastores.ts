/**
 * The three datastores the kube bench puts under the same kube-apiserver, each of 3 members on
 * loopback addresses of the bench's network namespace, each reached the same way: etcd's gRPC API
 * over TLS with a client certificate checked, to all 3 members; the Raft peers on mutual TLS.
 *   ours      our seed lab (src/lab/formation.ts) with TLS clients, 127.0.1.1-3
 *   etcd 3.6  the etcd release MicroK8s ships for external datastores, built in the upstream cache, 127.0.9.1-3
 *   etcd 3.4  Debian's etcd-server, 127.0.31.1-3
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureClusterCa, issueCertificate } from '../src/cluster/pki.js';
import { labUp } from '../src/lab/formation.js';
import { labDown, labSignal, labStart, labStatus } from '../src/lab/processes.js';
import { readLab } from '../src/lab/spec.js';
import { resolveUpstreamPaths } from '../src/lib/upstream-paths.js';
import { addressOf, etcdVersion, findEtcdBinary, startEtcdCluster } from '../test/peers/etcd-cluster.js';
import { issueEtcdPeerTls } from './etcd-peer-tls.js';

export const DATASTORES = ['ours', 'etcd 3.6', 'etcd 3.4'] as const;
export type DatastoreName = (typeof DATASTORES)[number];

export interface KubeDatastore {
  readonly name: DatastoreName;
  readonly version: string;
  /** How kube-apiserver reaches it, and how its members talk (for the table's notes). */
  readonly transport: string;
  /** https://HOST:PORT of every member. */
  readonly endpoints: string[];
  /** What kube-apiserver presents and trusts (--etcd-cafile, --etcd-certfile, --etcd-keyfile). */
  readonly clientTls: { ca: string; cert: string; key: string };
  pids(): number[];
  /** SIGKILL the member that leads: when the signal went, and how to start the member again. */
  killLeader(): Promise<{ killedAt: number; restart: () => Promise<void> }>;
  stop(): Promise<void>;
}

const TRANSPORT = 'apiserver -> 3 members: gRPC over TLS, client certificates checked; peers: mutual TLS';

/**
 * Our 3-node seed lab; a launcher (even an empty one) makes it serve clients over TLS. `profileDir`
 * runs each node under node --cpu-prof (written when the node stops).
 */
export async function startOurs(dir: string, profileDir?: string): Promise<KubeDatastore> {
  const nodes = await labUp({
    nodes: 3,
    dir,
    baseAddress: '127.0.1.1',
    formation: 'seed',
    launcher: () => (profileDir ? ['env', `NODE_OPTIONS=--cpu-prof --cpu-prof-dir=${profileDir}`] : []),
  });
  const tls = readLab(dir).clientTls;
  if (!tls) throw new Error('the lab serves no TLS clients');
  return {
    name: 'ours',
    version: 'this tree',
    transport: TRANSPORT,
    endpoints: nodes.map((n) => n.clientEndpoint),
    clientTls: tls,
    pids: () => readLab(dir).nodes.map((n) => n.pid),
    async killLeader() {
      const leader = (await labStatus(dir)).find((n) => n.state === 'leader');
      if (!leader) throw new Error('our lab has no leader');
      const killedAt = performance.now();
      await labSignal(dir, leader.name, 'SIGKILL');
      return {
        killedAt,
        restart: async () => {
          await labStart(dir, leader.name);
        },
      };
    },
    async stop() {
      await labDown(dir);
    },
  };
}

/** A 3-member etcd: 3.6 from the upstream cache, or Debian's 3.4 (on PATH). */
export async function startEtcd(dir: string, which: 'etcd 3.6' | 'etcd 3.4'): Promise<KubeDatastore> {
  const binary = which === 'etcd 3.6' ? join(resolveUpstreamPaths().bin, 'etcd') : findEtcdBinary();
  const base = which === 'etcd 3.6' ? '127.0.9.1' : '127.0.31.1';
  const addresses = [0, 1, 2].map((i) => addressOf(base, i));
  mkdirSync(dir, { recursive: true });
  // One certificate per member role (server, peer, and the client of its peers), as the
  // external-etcd test issues them; another for kube-apiserver.
  const peerTls = await issueEtcdPeerTls(join(dir, 'tls'), addresses);
  const ca = await ensureClusterCa(join(dir, 'tls', 'ca'), { commonName: 'bench-etcd-peer-ca' });
  const client = await issueCertificate(ca, join(dir, 'tls', 'client'), 'client', {
    commonName: 'kube-apiserver-etcd-client',
    usage: 'client',
  });
  const cluster = await startEtcdCluster({
    size: 3,
    baseAddress: base,
    binary,
    parentDir: dir,
    namePrefix: which === 'etcd 3.6' ? 'etcd36-' : 'etcd34-',
    peerTls,
    clientTls: { ...peerTls, clientCertFile: client.certPath, clientKeyFile: client.keyPath },
  });
  const version = etcdVersion(binary).replace(/^etcd Version:\s*/, '');
  if (!version.startsWith(which.slice(5))) {
    await cluster.stop();
    throw new Error(`${binary} is etcd ${version}, not ${which}`);
  }
  return {
    name: which,
    version,
    transport: TRANSPORT,
    endpoints: cluster.endpoints,
    clientTls: { ca: peerTls.caFile, cert: client.certPath, key: client.keyPath },
    pids: () => cluster.members.map((m) => m.pid),
    async killLeader() {
      const i = await cluster.leaderIndex();
      const killedAt = performance.now();
      await cluster.kill(i, 'SIGKILL');
      return { killedAt, restart: () => cluster.restart(i) };
    },
    stop: () => cluster.stop(),
  };
}
