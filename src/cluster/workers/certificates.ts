/**
 * The cluster's record of every certificate its agents sign (worker kubelet and kube-proxy
 * certificates, members' peer certificates): serial, subject, node, expiry, and when it was
 * revoked. One owner: the datastore's replicated keyspace, under CERT_RECORD_PREFIX (the format
 * is the datastore's, src/datastore/etcd/client-identity.ts, because its TLS port reads it), so
 * every control-plane node sees the same record and the revocation reaches every datastore
 * member and every agent at once. A record is written before the certificate is handed out: a
 * certificate nobody recorded cannot be revoked.
 */
import { X509Certificate } from 'node:crypto';
import {
  CERT_RECORD_PREFIX,
  type CertRecord,
  certRecordKey,
  normalizeSerial,
  parseCertRecord,
} from '../../datastore/etcd/client-identity.js';
import { MicroK8sError } from '../../lib/errors.js';
import { localEtcdCall } from '../local-etcd.js';
import { prefixEnd } from './registry.js';

export async function recordCertificate(
  etcdSocket: string,
  pem: string,
  node: string,
  kind: CertRecord['kind'],
): Promise<CertRecord> {
  const cert = new X509Certificate(pem);
  const record: CertRecord = {
    serial: normalizeSerial(cert.serialNumber),
    subject: cert.subject.replace(/\n/g, ','),
    node,
    kind,
    issuedAt: new Date().toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
  };
  await localEtcdCall(etcdSocket, 'KV', 'Put', {
    key: certRecordKey(record.serial),
    value: Buffer.from(JSON.stringify(record)),
  });
  return record;
}

export async function listCertificates(etcdSocket: string): Promise<CertRecord[]> {
  const response = await localEtcdCall<{ kvs: { value: Buffer }[] }>(etcdSocket, 'KV', 'Range', {
    key: Buffer.from(CERT_RECORD_PREFIX),
    range_end: prefixEnd(CERT_RECORD_PREFIX),
  });
  return response.kvs.map((kv) => parseCertRecord(kv.value)).filter((r) => r !== undefined);
}

export async function findCertificate(etcdSocket: string, serial: string): Promise<CertRecord | undefined> {
  const response = await localEtcdCall<{ kvs: { value: Buffer }[] }>(etcdSocket, 'KV', 'Range', {
    key: certRecordKey(serial),
  });
  return response.kvs[0] ? parseCertRecord(response.kvs[0].value) : undefined;
}

/** Revoke every certificate of `node` not revoked yet; returns their serials. */
export async function revokeNodeCertificates(etcdSocket: string, node: string): Promise<string[]> {
  const revokedAt = new Date().toISOString();
  const targets = (await listCertificates(etcdSocket)).filter(
    (r) => r.node === node && r.revokedAt === undefined,
  );
  for (const record of targets) {
    await localEtcdCall(etcdSocket, 'KV', 'Put', {
      key: certRecordKey(record.serial),
      value: Buffer.from(JSON.stringify({ ...record, revokedAt })),
    });
  }
  return targets.map((r) => r.serial);
}

/** Refuse a revoked certificate (the agent's side of revocation). */
export async function checkNotRevoked(etcdSocket: string, cert: X509Certificate): Promise<void> {
  const record = await findCertificate(etcdSocket, cert.serialNumber);
  if (record?.revokedAt !== undefined) {
    throw new MicroK8sError(
      'MK_CERT_REVOKED',
      `the certificate ${record.serial} of ${record.node} was revoked at ${record.revokedAt}`,
    );
  }
}
