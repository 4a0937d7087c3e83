/**
 * Whether an existing certificate can be kept. A certificate set is ensured again on every
 * start and after an address change, so "keep what is valid" is what makes it idempotent, and
 * "valid" must include "names what this node is now": a stale SAN is a reason to re-issue.
 */
import { createPrivateKey, type X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { parseSubjectAltNames } from '../pki.js';

const DAY_MS = 24 * 3600 * 1000;
/** Renew a certificate this close to its expiry (when its CA can give it more). */
export const RENEW_BEFORE_DAYS = 30;

export interface LeafExpectation {
  readonly commonName: string;
  readonly organization?: string;
  /** `DNS:name` and `IP:address` entries, in any order and spelling of the address. */
  readonly sans: readonly string[];
}

export function daysLeft(cert: X509Certificate, now: number): number {
  return Math.floor((cert.validToDate.getTime() - now) / DAY_MS);
}

/** The same spelling for an address however it was written (Node prints IPv6 uncompressed). */
export function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  return new URL(`http://[${ip}]`).hostname.slice(1, -1);
}

function canonicalSan(san: string): string {
  if (san.startsWith('IP:')) return `IP:${canonicalIp(san.slice(3))}`;
  if (san.startsWith('DNS:')) return `DNS:${san.slice(4).toLowerCase()}`;
  return san;
}

export function canonicalSans(sans: readonly string[]): string[] {
  return [...new Set(sans.map(canonicalSan))].sort();
}

/** `CN` and `O` of Node's multi-line subject text (our alphabet has no escapes to undo). */
export function subjectFields(subject: string): { commonName?: string; organization?: string } {
  const out: { commonName?: string; organization?: string } = {};
  for (const line of subject.split('\n')) {
    const at = line.indexOf('=');
    if (at < 0) continue;
    const [key, value] = [line.slice(0, at), line.slice(at + 1)];
    if (key === 'CN') out.commonName = value;
    if (key === 'O') out.organization = value;
  }
  return out;
}

/**
 * Why `cert` (with `keyPem`) must be re-issued, or undefined when it can be kept. The reason is
 * for logs and reports: it never contains key material.
 */
export function leafProblem(
  cert: X509Certificate,
  keyPem: string | Buffer,
  caCert: X509Certificate,
  expected: LeafExpectation,
  now: number,
): string | undefined {
  if (!cert.checkIssued(caCert) || !cert.verify(caCert.publicKey)) return 'not signed by the current CA';
  let matches = false;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return 'the private key is unreadable';
  }
  if (!matches) return 'the private key does not belong to the certificate';
  const subject = subjectFields(cert.subject);
  if (subject.commonName !== expected.commonName || subject.organization !== expected.organization) {
    return 'the subject changed';
  }
  const have = canonicalSans(parseSubjectAltNames(cert.subjectAltName));
  const want = canonicalSans(expected.sans);
  if (have.join(',') !== want.join(',')) return 'the names or addresses changed';
  const left = daysLeft(cert, now);
  if (left < RENEW_BEFORE_DAYS && daysLeft(caCert, now) > left + 1) return `it expires in ${left} days`;
  return undefined;
}
