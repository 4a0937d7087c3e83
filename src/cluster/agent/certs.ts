/**
 * Certificates the agent hands out, and the worker's certificate requests.
 *
 * A control-plane joiner gets its peer certificate issued here (key included): it receives the
 * CA key in the same answer anyway (every control-plane node holds the CA, as in MicroK8s), so
 * a CSR would protect nothing, and issuing here binds the node id the agent allocated to the
 * certificate's identity (`node-N.peer.microk8s`) in one place.
 * A worker never gets the CA key, so it sends CSRs and its keys never leave it: the agent
 * verifies each request's signature (proof of possession) and that it asks for exactly the
 * identity the worker may have, then signs it.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { peerCertificateNames } from '../../datastore/transport/identity.js';
import { MicroK8sError } from '../../lib/errors.js';
import { createPrivateFile, PRIVATE_MODE, withScratch } from '../files.js';
import { clientIdentity, LOOPBACK_IP, nodeIps } from '../pki/names.js';
import { openssl } from '../pki/openssl.js';
import { type CaFiles, issueCertificate } from '../pki.js';
import type { PemPair, WorkerCertName } from './protocol.js';

/**
 * Worker certificates live 90 days: a worker renews them when a third is left (renew.ts), and a
 * removed worker's certificate, which the API servers cannot revoke, stops working soon after.
 */
export const WORKER_CERT_DAYS = 90;

export async function issuePeerPair(
  ca: CaFiles,
  scratchParent: string,
  nodeId: number,
  ips: readonly string[],
): Promise<PemPair> {
  return withScratch(scratchParent, async (scratch) => {
    const issued = await issueCertificate(ca, scratch, 'peer', {
      ...peerCertificateNames(nodeId),
      // The same SANs the node's own certificate set expects, so it keeps this one.
      ips: nodeIps([...ips, LOOPBACK_IP]),
      usage: 'peer',
    });
    const [cert, key] = await Promise.all([
      readFile(issued.certPath, 'utf8'),
      readFile(issued.keyPath, 'utf8'),
    ]);
    return { cert, key };
  });
}

/** The subject a worker's certificate must carry, in openssl's RFC 2253 order (last RDN first). */
export function workerSubject(name: WorkerCertName, hostname: string): string {
  const id = clientIdentity(name, hostname);
  return [`CN=${id.commonName}`, ...(id.organization ? [`O=${id.organization}`] : [])].join(',');
}

function opensslSubject(name: WorkerCertName, hostname: string): string {
  const id = clientIdentity(name, hostname);
  return `${id.organization ? `/O=${id.organization}` : ''}/CN=${id.commonName}`;
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return `0x${bytes.toString('hex')}`;
}

/** Sign a worker's CSR for `name`, refusing a bad signature or any other identity. */
export async function signWorkerCsr(
  ca: CaFiles,
  scratchParent: string,
  name: WorkerCertName,
  hostname: string,
  csrPem: string,
): Promise<string> {
  if (!csrPem.includes('-----BEGIN CERTIFICATE REQUEST-----')) {
    throw new MicroK8sError('MK_CSR_INVALID', `the ${name} request is not a PEM certificate request`);
  }
  return withScratch(scratchParent, async (scratch) => {
    const csr = join(scratch, 'req.csr');
    const ext = join(scratch, 'ext.cnf');
    const out = join(scratch, 'cert.pem');
    await writeFile(csr, csrPem, { mode: PRIVATE_MODE });
    let subject: string;
    try {
      await openssl(['req', '-in', csr, '-noout', '-verify'], `verify the ${name} request`);
      subject = await openssl(
        ['req', '-in', csr, '-noout', '-subject', '-nameopt', 'RFC2253'],
        `read the ${name} request`,
      );
    } catch (error) {
      throw new MicroK8sError(
        'MK_CSR_INVALID',
        `the ${name} request is not a valid signed request`,
        {},
        { cause: error },
      );
    }
    const got = subject.replace(/^subject=\s*/, '').trim();
    const want = workerSubject(name, hostname);
    if (got !== want) {
      throw new MicroK8sError(
        'MK_CSR_INVALID',
        `the ${name} request asks for "${got}", a worker named ${hostname} may only get "${want}"`,
      );
    }
    await writeFile(
      ext,
      [
        '[v3]',
        'basicConstraints = critical,CA:FALSE',
        'keyUsage = critical,digitalSignature',
        'extendedKeyUsage = clientAuth',
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid:always',
        '',
      ].join('\n'),
      { mode: PRIVATE_MODE },
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        ca.certPath,
        '-CAkey',
        ca.keyPath,
        '-set_serial',
        serial(),
        '-days',
        String(WORKER_CERT_DAYS),
        '-sha256',
        '-extfile',
        ext,
        '-extensions',
        'v3',
        '-out',
        out,
      ],
      `sign the ${name} request`,
    );
    return readFile(out, 'utf8');
  });
}

/** A worker's key (kept) and its request (sent), for `name`. */
export async function createWorkerRequest(
  scratchParent: string,
  name: WorkerCertName,
  hostname: string,
): Promise<{ key: string; csr: string }> {
  return withScratch(scratchParent, async (scratch) => {
    const key = join(scratch, 'key.pem');
    const csr = join(scratch, 'req.csr');
    await createPrivateFile(key);
    await openssl(
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-subj',
        opensslSubject(name, hostname),
        '-out',
        csr,
      ],
      `create the ${name} key and request`,
    );
    const [keyPem, csrPem] = await Promise.all([readFile(key, 'utf8'), readFile(csr, 'utf8')]);
    return { key: keyPem, csr: csrPem };
  });
}
