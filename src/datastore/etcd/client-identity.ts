/**
 * Who may use the etcd API over TCP: the datastore's own members and holders of a datastore
 * client certificate, never any other certificate the cluster CA signed (a worker's kubelet or
 * kube-proxy certificate chains to the same CA). Checked on every TLS connection, after the
 * handshake has verified the chain; the unix socket (the local API server) is not concerned.
 *
 *  - a member: the peer identity (SAN DNS:node-N.peer.microk8s) of a node in the member table;
 *  - a datastore client: subject O=microk8s:datastore (the API servers' and operators' identity);
 *  - in both cases the certificate's serial must not be revoked in the cluster's certificate
 *    record (CERT_RECORD_PREFIX below, in this datastore's own replicated keyspace).
 *
 * The certificate record's key and format live here, not in the cluster layer that writes them,
 * because the datastore reads them and must not import what is above it.
 * A refused connection gets one clear gRPC answer (PERMISSION_DENIED with the reason) to every
 * call it makes, then is closed after a short grace.
 */
import type { X509Certificate } from 'node:crypto';
import http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { nodeIdFromCertificate } from '../transport/identity.js';
import { encodeGrpcMessage, Status } from './grpc/status.js';

/** Subject O of a certificate that may use the etcd API (kubeadm's apiserver-etcd-client). */
export const DATASTORE_CLIENT_ORGANIZATION = 'microk8s:datastore';
/** /microk8s/certs/<serial, lowercase hex without leading zeros> -> CertRecord (JSON). */
export const CERT_RECORD_PREFIX = '/microk8s/certs/';
/** How long a refused connection stays open for its answer to reach the client. */
export const REFUSED_CONNECTION_GRACE_MS = 2_000;

export interface CertRecord {
  /** Lowercase hex, no leading zeros (normalizeSerial). */
  readonly serial: string;
  readonly subject: string;
  /** The node the certificate was issued to (a hostname, or node-N for a member). */
  readonly node: string;
  readonly kind: 'worker' | 'member';
  /** ISO times. */
  readonly issuedAt: string;
  readonly notAfter: string;
  readonly revokedAt?: string;
}

export function normalizeSerial(serial: string): string {
  const hex = serial
    .replace(/^0x/i, '')
    .replace(/:/g, '')
    .toLowerCase()
    .replace(/^0+(?=.)/, '');
  return hex;
}

export function certRecordKey(serial: string): Buffer {
  return Buffer.from(`${CERT_RECORD_PREFIX}${normalizeSerial(serial)}`);
}

export function parseCertRecord(value: Uint8Array): CertRecord | undefined {
  try {
    const r = JSON.parse(Buffer.from(value).toString('utf8')) as Partial<CertRecord>;
    if (typeof r.serial === 'string' && typeof r.node === 'string' && typeof r.notAfter === 'string') {
      return r as CertRecord;
    }
  } catch {
    // not a record: treated as absent
  }
  return undefined;
}

function organizations(cert: X509Certificate): string[] {
  return cert.subject
    .split('\n')
    .filter((line) => line.startsWith('O='))
    .map((line) => line.slice(2));
}

export interface IdentityLookups {
  /** The ids of the current members. */
  readonly members: () => readonly number[];
  /** The record of a serial, if the cluster has one (a local read). */
  readonly record: (serial: string) => Promise<CertRecord | undefined>;
}

/** Why this client certificate may not use the etcd API, or undefined when it may. */
export async function clientRefusal(
  cert: X509Certificate | undefined,
  lookups: IdentityLookups,
): Promise<string | undefined> {
  if (!cert) return 'no client certificate';
  const serial = normalizeSerial(cert.serialNumber);
  const record = await lookups.record(serial);
  if (record?.revokedAt !== undefined) {
    return `the client certificate ${serial} (${record.subject}) was revoked at ${record.revokedAt}`;
  }
  const member = nodeIdFromCertificate(cert);
  if (member !== undefined) {
    if (lookups.members().includes(member)) return undefined;
    return `the client certificate names node ${member}, which is not a member of this datastore`;
  }
  if (organizations(cert).includes(DATASTORE_CLIENT_ORGANIZATION)) return undefined;
  const subject = cert.subject.replace(/\n/g, ',');
  return `the client certificate "${subject}" is not a datastore identity (a member's peer certificate, or O=${DATASTORE_CLIENT_ORGANIZATION})`;
}

export function tlsPeerCertificate(socket: TLSSocket): X509Certificate | undefined {
  try {
    return socket.getPeerX509Certificate();
  } catch {
    return undefined;
  }
}

/**
 * Answer every call on this connection with PERMISSION_DENIED and `reason` (a gRPC
 * trailers-only response), then close it: the client sees why, not a bare reset.
 */
export function serveRefusal(socket: TLSSocket, reason: string): void {
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': String(Status.PERMISSION_DENIED),
        'grpc-message': encodeGrpcMessage(`permission denied: ${reason}`),
      },
      { endStream: true },
    );
  });
  server.on('sessionError', () => {});
  const timer = setTimeout(() => socket.destroy(), REFUSED_CONNECTION_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.on('error', () => {});
  server.emit('connection', socket);
}
