// The bench runs etcd's peers over TLS with client certificates, as a production etcd runs and as
// our datastore always runs its Raft traffic (TLS 1.3, mutual). Plain-HTTP etcd peers would leave
// the encryption cost on one side only.
import { join } from 'node:path';
import { ensureClusterCa, issueCertificate } from '../src/cluster/pki.js';

export interface EtcdPeerTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** A CA and one peer certificate naming every member address, under `dir`. */
export async function issueEtcdPeerTls(dir: string, addresses: readonly string[]): Promise<EtcdPeerTls> {
  const ca = await ensureClusterCa(join(dir, 'ca'), { commonName: 'bench-etcd-peer-ca' });
  const cert = await issueCertificate(ca, join(dir, 'peer'), 'peer', {
    commonName: 'bench-etcd-peer',
    // etcd checks a peer's client certificate against the connection's source address, and
    // etcd dials its peers from the default source address, 127.0.0.1 on loopback.
    ips: [...addresses, '127.0.0.1'],
    usage: 'peer',
  });
  return { caFile: ca.certPath, certFile: cert.certPath, keyFile: cert.keyPath };
}
