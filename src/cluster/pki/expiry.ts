/**
 * `refresh-certs --check`: every certificate of the node's set with its days to expiry. Read
 * only. A missing cluster CA means the node has no certificate set at all (MK_CERTS_MISSING);
 * a missing or unreadable single file is reported in its row, so one broken file does not
 * hide the state of the others.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { MicroK8sError } from '../../lib/errors.js';
import { exists } from '../files.js';
import { parseKubeconfig } from './kubeconfig.js';
import { type CertsLayout, certsLayout, KUBECONFIG_NAMES, LEAF_NAMES } from './layout.js';
import { daysLeft } from './validity.js';

export type CertificateKind = 'ca' | 'certificate' | 'kubeconfig';

export interface CertificateExpiry {
  readonly name: string;
  readonly kind: CertificateKind;
  readonly path: string;
  readonly subject?: string;
  /** ISO 8601. */
  readonly notAfter?: string;
  readonly daysLeft?: number;
  /** Set when the file is missing or cannot be read; the other fields are then absent. */
  readonly problem?: 'missing' | 'unreadable';
}

/** MK_CERTS_MISSING unless the node has both CAs (key and certificate). */
export async function requireCas(layout: CertsLayout): Promise<void> {
  const files = [
    layout.ca.certPath,
    layout.ca.keyPath,
    layout.frontProxyCa.certPath,
    layout.frontProxyCa.keyPath,
  ];
  const missing: string[] = [];
  for (const file of files) if (!(await exists(file))) missing.push(file);
  if (missing.length > 0) {
    throw new MicroK8sError(
      'MK_CERTS_MISSING',
      `this node has no certificate set: ${missing.join(', ')} missing`,
      {
        missing,
      },
    );
  }
}

async function row(
  name: string,
  kind: CertificateKind,
  path: string,
  now: number,
): Promise<CertificateExpiry> {
  if (!(await exists(path))) return { name, kind, path, problem: 'missing' };
  try {
    const text = await readFile(path, 'utf8');
    const pem = kind === 'kubeconfig' ? parseKubeconfig(text, path).certPem : text;
    const cert = new X509Certificate(pem);
    return {
      name,
      kind,
      path,
      subject: cert.subject.replaceAll('\n', ', '),
      notAfter: cert.validToDate.toISOString(),
      daysLeft: daysLeft(cert, now),
    };
  } catch {
    return { name, kind, path, problem: 'unreadable' };
  }
}

export async function checkCertificates(dir: string, now: number = Date.now()): Promise<CertificateExpiry[]> {
  const layout = certsLayout(dir);
  if (!(await exists(layout.ca.certPath))) {
    throw new MicroK8sError(
      'MK_CERTS_MISSING',
      `this node has no cluster CA: ${layout.ca.certPath} is missing`,
      {
        missing: [layout.ca.certPath],
      },
    );
  }
  return Promise.all([
    row('ca', 'ca', layout.ca.certPath, now),
    row('front-proxy-ca', 'ca', layout.frontProxyCa.certPath, now),
    ...LEAF_NAMES.map((name) => row(name, 'certificate', layout.leaves[name].certPath, now)),
    ...KUBECONFIG_NAMES.map((name) => row(`kubeconfig/${name}`, 'kubeconfig', layout.kubeconfigs[name], now)),
  ]);
}
