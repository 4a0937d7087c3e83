/**
 * The cluster's PKI: one self-signed CA per cluster and certificates it issues for servers,
 * clients and Raft peers. The openssl CLI does the cryptography and the ASN.1 (nothing is
 * hand-encoded here); Node's X509Certificate only reads the results.
 *
 * Files: `<dir>/ca.crt` + `<dir>/ca.key` for the CA, `<outDir>/<name>.crt` + `<name>.key` for an
 * issued certificate. Private keys are EC P-256 (fast to generate and to handshake with) and
 * are created 0600. Every file appears atomically: it is written in a private scratch folder
 * next to its destination and then renamed (or hard-linked, when an existing file must never
 * be replaced), so a crash never leaves a half-written key or certificate behind.
 *
 * Key material never goes through the logger or an error message: errors carry the openssl
 * command's stderr, which names files, not their contents.
 */
import { createHash, createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { chmod, link, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { MicroK8sError } from '../lib/errors.js';
import { checkLimit } from '../lib/limits.js';
import { createLogger } from '../lib/log.js';
import { createPrivateFile, exists, PRIVATE_DIR_MODE, PRIVATE_MODE, withScratch } from './files.js';
import { OPENSSL_TIMEOUT_MS, openssl } from './pki/openssl.js';

const log = createLogger('cluster.pki');

export interface CaFiles {
  certPath: string;
  keyPath: string;
}

export interface IssuedCert {
  certPath: string;
  keyPath: string;
}

export type CertificateUsage = 'server' | 'client' | 'peer';

export interface IssueOptions {
  commonName: string;
  /** Subject O: Kubernetes reads a client certificate's O as its groups (system:nodes, ...). */
  organization?: string;
  ips?: string[];
  dnsNames?: string[];
  days?: number;
  /** server: serverAuth EKU; client: clientAuth; peer: both (a Raft peer dials and accepts). */
  usage: CertificateUsage;
}

/** Named limits of the PKI (validated with checkLimit). */
export const PKI_LIMITS = {
  /** The CA lives ten years: re-keying a running HA cluster is an operation nobody wants. */
  caDays: { name: 'pki.caDays', min: 1, max: 36500, unit: 'days', default: 3650 },
  /** Issued certificates default to the same horizon; callers may shorten it. */
  certDays: { name: 'pki.certDays', min: 1, max: 36500, unit: 'days', default: 3650 },
  /** SAN entries per certificate: a node has a handful of addresses, not thousands. */
  maxSans: { name: 'pki.maxSans', min: 0, max: 256, unit: 'names' },
  opensslTimeoutMs: OPENSSL_TIMEOUT_MS,
} as const;

const CA_NAME = 'ca';
const DAY_MS = 24 * 3600 * 1000;
/** Serial numbers: 16 random bytes (RFC 5280 allows up to 20 octets; positive, so top bit clear). */
const SERIAL_BYTES = 16;

// Restricted alphabets: these strings end up in openssl config files, where '$', '#', ',',
// newlines and quotes would change the meaning.
const COMMON_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9 ._:@-]{0,63}$/;
const DNS_NAME_RE =
  /^(?=.{1,253}$)(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const FILE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** `ca` and `<something>-ca` name CAs: the names issueCertificate refuses and ensureClusterCa takes. */
function isCaName(name: string): boolean {
  return name === CA_NAME || name.endsWith(`-${CA_NAME}`);
}

function invalid(message: string, info: Record<string, unknown> = {}): MicroK8sError {
  return new MicroK8sError('MK_INVALID_ARGUMENT', message, info);
}

/**
 * Our own request config instead of the system openssl.cnf: its defaults (extensions added to
 * every CA, prompts, distinguished-name policies) differ between distributions.
 */
function requestConfig(commonName: string, extra: readonly string[], organization?: string): string {
  const dn = [...(organization === undefined ? [] : [`O = ${organization}`]), `CN = ${commonName}`];
  return `${['[req]', 'prompt = no', 'distinguished_name = dn', '[dn]', ...dn, ...extra].join('\n')}\n`;
}

function newKeyArgs(keyPath: string): string[] {
  return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyPath];
}

function randomSerial(): string {
  const bytes = randomBytes(SERIAL_BYTES);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive, and never a short (leading zero) serial
  return `0x${bytes.toString('hex')}`;
}

async function checkCaPair(ca: CaFiles): Promise<void> {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(await readFile(ca.certPath));
  } catch (error) {
    throw new MicroK8sError('MK_TLS', `${ca.certPath} is not a PEM certificate`, {}, { cause: error });
  }
  if (!cert.ca) throw new MicroK8sError('MK_TLS', `${ca.certPath} is not a CA certificate`);
  let matches = false;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(await readFile(ca.keyPath)));
  } catch (error) {
    throw new MicroK8sError('MK_TLS', `${ca.keyPath} is not a PEM private key`, {}, { cause: error });
  }
  if (!matches) throw new MicroK8sError('MK_TLS', `${ca.keyPath} does not belong to ${ca.certPath}`);
}

/**
 * Make sure `dir` holds the cluster CA. Existing files are kept (and checked to be a matching
 * CA pair): every certificate of the cluster chains to them, so replacing them silently would
 * cut every node off. A lone ca.key or ca.crt is an error, never overwritten.
 */
export async function ensureClusterCa(
  dir: string,
  options: { commonName?: string; days?: number; name?: string } = {},
): Promise<CaFiles> {
  const commonName = options.commonName ?? 'microk8s-cluster-ca';
  if (!COMMON_NAME_RE.test(commonName)) throw invalid(`invalid CA common name ${JSON.stringify(commonName)}`);
  // A second CA (the front-proxy one) lives next to the cluster CA under its own name.
  const name = options.name ?? CA_NAME;
  if (!FILE_NAME_RE.test(name) || !isCaName(name)) throw invalid(`invalid CA name ${JSON.stringify(name)}`);
  const days = checkLimit(PKI_LIMITS.caDays, options.days ?? PKI_LIMITS.caDays.default);
  const ca: CaFiles = { certPath: join(dir, `${name}.crt`), keyPath: join(dir, `${name}.key`) };

  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const [haveCert, haveKey] = await Promise.all([exists(ca.certPath), exists(ca.keyPath)]);
  if (haveCert && haveKey) {
    await checkCaPair(ca);
    const keyMode = (await stat(ca.keyPath)).mode & 0o777;
    if (keyMode & 0o077) {
      // Tighten rather than refuse: the key is already exposed to whoever could read it.
      log.warn('the CA key was readable by others; restricting it to the owner', { key: ca.keyPath });
      await chmod(ca.keyPath, PRIVATE_MODE);
    }
    log.debug('reusing the cluster CA', { cert: ca.certPath });
    return ca;
  }
  if (haveCert !== haveKey) {
    throw new MicroK8sError(
      'MK_TLS',
      `${haveCert ? ca.certPath : ca.keyPath} exists without its ${haveCert ? 'key' : 'certificate'}; restore it or remove both to create a new CA`,
    );
  }

  await withScratch(dir, async (scratch) => {
    const keyTmp = join(scratch, 'ca.key');
    const certTmp = join(scratch, 'ca.crt');
    const configTmp = join(scratch, 'ca.cnf');
    await createPrivateFile(keyTmp);
    await writeFile(
      configTmp,
      requestConfig(commonName, [
        '[ext]',
        'basicConstraints = critical,CA:TRUE,pathlen:0',
        'keyUsage = critical,keyCertSign,cRLSign',
        'subjectKeyIdentifier = hash',
      ]),
      { mode: PRIVATE_MODE },
    );
    await openssl(
      [
        ...['req', '-x509', '-config', configTmp, '-extensions', 'ext', ...newKeyArgs(keyTmp)],
        ...['-out', certTmp, '-days', String(days), '-set_serial', randomSerial()],
      ],
      'create the cluster CA',
    );
    // link() fails if the name exists: two creators racing never replace each other's key.
    // The key goes first; a crash between the two links leaves a lone key, reported above.
    try {
      await link(keyTmp, ca.keyPath);
      await link(certTmp, ca.certPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const message = `another process created the CA in ${dir} at the same time; retry`;
      throw new MicroK8sError('MK_TLS', message, {}, { cause: error });
    }
  });
  log.info('created the cluster CA', { cert: ca.certPath, days });
  return ca;
}

function extensionConfig(options: IssueOptions, sans: string[]): string {
  const eku = { server: 'serverAuth', client: 'clientAuth', peer: 'serverAuth,clientAuth' }[options.usage];
  const lines = [
    '[v3]',
    'basicConstraints = critical,CA:FALSE',
    // EC keys: signatures only (TLS 1.3 key exchange is ephemeral, no keyEncipherment).
    'keyUsage = critical,digitalSignature',
    `extendedKeyUsage = ${eku}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid:always',
  ];
  if (sans.length > 0) lines.push(`subjectAltName = ${sans.join(',')}`);
  return `${lines.join('\n')}\n`;
}

function subjectAltNames(options: IssueOptions): string[] {
  const ips = options.ips ?? [];
  const dnsNames = options.dnsNames ?? [];
  checkLimit(PKI_LIMITS.maxSans, ips.length + dnsNames.length);
  for (const ip of ips) if (isIP(ip) === 0) throw invalid(`invalid IP address ${JSON.stringify(ip)}`);
  for (const name of dnsNames) {
    if (!DNS_NAME_RE.test(name)) throw invalid(`invalid DNS name ${JSON.stringify(name)}`);
  }
  return [...dnsNames.map((name) => `DNS:${name}`), ...ips.map((ip) => `IP:${ip}`)];
}

/**
 * Issue `<outDir>/<name>.crt` and `<name>.key`, signed by the CA. An existing pair of that name
 * is replaced (re-issuing is how addresses change); each file is swapped atomically.
 */
export async function issueCertificate(
  ca: CaFiles,
  outDir: string,
  name: string,
  options: IssueOptions,
): Promise<IssuedCert> {
  // CA names are refused so that issuing into a CA's folder can never replace the CA itself.
  if (!FILE_NAME_RE.test(name) || isCaName(name)) {
    throw invalid(`invalid certificate name ${JSON.stringify(name)}`);
  }
  if (!COMMON_NAME_RE.test(options.commonName)) {
    throw invalid(`invalid common name ${JSON.stringify(options.commonName)}`);
  }
  if (options.organization !== undefined && !COMMON_NAME_RE.test(options.organization)) {
    throw invalid(`invalid organization ${JSON.stringify(options.organization)}`);
  }
  if (!['server', 'client', 'peer'].includes(options.usage)) {
    throw invalid(`invalid certificate usage ${JSON.stringify(options.usage)}`);
  }
  let days = checkLimit(PKI_LIMITS.certDays, options.days ?? PKI_LIMITS.certDays.default);
  const sans = subjectAltNames(options);
  await checkCaPair(ca);
  // A certificate cannot be trusted past its CA: shorten it rather than issue a lie.
  const caDaysLeft = Math.floor(
    ((await readCertificate(ca.certPath)).validToDate.getTime() - Date.now()) / DAY_MS,
  );
  if (caDaysLeft < 1) throw new MicroK8sError('MK_TLS', `the CA ${ca.certPath} expires in less than a day`);
  if (days > caDaysLeft) {
    // The default simply follows the CA; an explicit request that cannot be honoured is worth a word.
    if (options.days !== undefined) {
      log.warn('shortening a certificate to the lifetime of its CA', { name, days, caDaysLeft });
    }
    days = caDaysLeft;
  }
  const issued: IssuedCert = { certPath: join(outDir, `${name}.crt`), keyPath: join(outDir, `${name}.key`) };

  await mkdir(outDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  await withScratch(outDir, async (scratch) => {
    const keyTmp = join(scratch, 'key.pem');
    const csrTmp = join(scratch, 'req.csr');
    const extTmp = join(scratch, 'ext.cnf');
    const certTmp = join(scratch, 'cert.pem');
    const configTmp = join(scratch, 'req.cnf');
    await createPrivateFile(keyTmp);
    await writeFile(configTmp, requestConfig(options.commonName, [], options.organization), {
      mode: PRIVATE_MODE,
    });
    await writeFile(extTmp, extensionConfig(options, sans), { mode: PRIVATE_MODE });
    await openssl(
      ['req', '-new', '-config', configTmp, ...newKeyArgs(keyTmp), '-out', csrTmp],
      `create the key and request for ${name}`,
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        csrTmp,
        '-CA',
        ca.certPath,
        '-CAkey',
        ca.keyPath,
        '-set_serial',
        randomSerial(),
        '-days',
        String(days),
        '-sha256',
        '-extfile',
        extTmp,
        '-extensions',
        'v3',
        '-out',
        certTmp,
      ],
      `sign the certificate ${name}`,
    );
    await rename(keyTmp, issued.keyPath);
    await rename(certTmp, issued.certPath);
  });
  log.info('issued a certificate', {
    name,
    usage: options.usage,
    commonName: options.commonName,
    sans,
    days,
  });
  return issued;
}

async function readCertificate(certPath: string): Promise<X509Certificate> {
  try {
    return new X509Certificate(await readFile(certPath));
  } catch (error) {
    throw new MicroK8sError('MK_TLS', `${certPath} is not a readable PEM certificate`, {}, { cause: error });
  }
}

/** SHA-256 of the certificate's DER encoding, lowercase hex without separators. */
export async function certificateFingerprint(certPath: string): Promise<string> {
  const cert = await readCertificate(certPath);
  return createHash('sha256').update(cert.raw).digest('hex');
}

/**
 * Node prints SANs as `DNS:a, IP Address:1.2.3.4` (values with separators are JSON-quoted, so
 * a crafted name cannot inject a second entry). We return `DNS:a` and `IP:1.2.3.4`, the same
 * spelling openssl configs use.
 */
export function parseSubjectAltNames(text: string | undefined): string[] {
  if (!text) return [];
  const out: string[] = [];
  const re = /(?:^|, )([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (let match = re.exec(text); match !== null; match = re.exec(text)) {
    const kind = match[1] === 'IP Address' ? 'IP' : match[1]!;
    const raw = match[2]!;
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    out.push(`${kind}:${value}`);
  }
  return out;
}

export async function certificateInfo(
  certPath: string,
): Promise<{ subject: string; notAfter: Date; sans: string[] }> {
  const cert = await readCertificate(certPath);
  return {
    subject: cert.subject,
    notAfter: cert.validToDate,
    sans: parseSubjectAltNames(cert.subjectAltName),
  };
}
