/**
 * The etcd TLS port's identity check (src/datastore/etcd/client-identity.ts), in one process: every
 * certificate below chains to the same CA, as a worker's kubelet certificate does in a cluster.
 * A current member's peer identity and O=microk8s:datastore are served; a kubelet identity, a
 * removed member's peer certificate and a revoked serial get PERMISSION_DENIED with the reason.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureClusterCa, issueCertificate } from '../../src/cluster/pki.js';
import {
  type CertRecord,
  DATASTORE_CLIENT_ORGANIZATION,
  normalizeSerial,
} from '../../src/datastore/etcd/client-identity.js';
import { EtcdServer } from '../../src/datastore/etcd/server.js';
import { peerCertificateNames } from '../../src/datastore/transport/identity.js';
import { call, rawClients, tempDir } from './helpers.js';
import { LocalBackend, quietLogger } from './local-backend.js';

const tmp = tempDir('mk8s-etcd-identity-');
const backend = new LocalBackend();
const revoked = new Map<string, CertRecord>();
const server = new EtcdServer({
  backend,
  logger: quietLogger,
  tlsClients: { members: () => [1], record: async (serial) => revoked.get(serial) },
});
let target = '';
let caPem: Buffer;

async function identity(name: string, options: Parameters<typeof issueCertificate>[3]) {
  const ca = await ensureClusterCa(join(tmp.dir, 'ca'), { commonName: 'identity-ca' });
  const issued = await issueCertificate(ca, join(tmp.dir, 'certs'), name, options);
  return { cert: readFileSync(issued.certPath), key: readFileSync(issued.keyPath) };
}

async function status(who: { cert: Buffer; key: Buffer }): Promise<grpc.ServiceError | undefined> {
  const clients = rawClients(target, grpc.credentials.createSsl(caPem, who.key, who.cert));
  try {
    await call(clients.maintenance, 'Status', {});
    return undefined;
  } catch (error) {
    return error as grpc.ServiceError;
  } finally {
    clients.close();
  }
}

test.before(async () => {
  const ca = await ensureClusterCa(join(tmp.dir, 'ca'), { commonName: 'identity-ca' });
  caPem = readFileSync(ca.certPath);
  const own = await identity('server', {
    ...peerCertificateNames(1),
    dnsNames: ['localhost'],
    usage: 'peer',
  });
  const [bound] = await server.listen({
    tcp: { host: '127.0.0.1', port: 0, tls: { ca: caPem, cert: own.cert, key: own.key } },
  });
  target = `localhost:${bound!.port}`;
});

test.after(async () => {
  await server.stop();
  backend.close();
  tmp.cleanup();
});

test('a member and a datastore client are served', async () => {
  const member = await identity('member', { ...peerCertificateNames(1), usage: 'peer' });
  assert.is(await status(member), undefined);
  const client = await identity('client', {
    commonName: 'datastore-admin',
    organization: DATASTORE_CLIENT_ORGANIZATION,
    usage: 'client',
  });
  assert.is(await status(client), undefined);
});

test('a kubelet identity and a non-member peer identity: PERMISSION_DENIED with the reason', async () => {
  const kubelet = await identity('kubelet', {
    commonName: 'system:node:worker1',
    organization: 'system:nodes',
    usage: 'client',
  });
  const refused = await status(kubelet);
  assert.is(refused?.code, grpc.status.PERMISSION_DENIED);
  console.log(`  refused: ${refused!.details}`);
  assert.match(refused!.details, /system:node:worker1/);
  assert.match(refused!.details, /is not a datastore identity/);
  const gone = await identity('gone', { ...peerCertificateNames(7), usage: 'peer' });
  const old = await status(gone);
  assert.is(old?.code, grpc.status.PERMISSION_DENIED);
  assert.match(old!.details, /names node 7, which is not a member/);
});

test('a revoked serial is refused even with a datastore identity', async () => {
  const client = await identity('revoked', {
    commonName: 'datastore-admin',
    organization: DATASTORE_CLIENT_ORGANIZATION,
    usage: 'client',
  });
  const serial = normalizeSerial(new X509Certificate(client.cert).serialNumber);
  revoked.set(serial, {
    serial,
    subject: 'CN=datastore-admin',
    node: 'operator',
    kind: 'worker',
    issuedAt: new Date().toISOString(),
    notAfter: new Date().toISOString(),
    revokedAt: '2026-01-01T00:00:00.000Z',
  });
  const refused = await status(client);
  assert.is(refused?.code, grpc.status.PERMISSION_DENIED);
  assert.match(refused!.details, /was revoked at 2026-01-01/);
});

test.run();
