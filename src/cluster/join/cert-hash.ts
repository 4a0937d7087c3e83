/**
 * The certificate hash of a join string: a prefix of the SHA-256 of the cluster agent's
 * certificate (DER). The joiner compares it with the certificate the agent presents, so it
 * does not need the CA beforehand and cannot be sent to an impostor.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { MicroK8sError } from '../../lib/errors.js';

/** The shortest prefix a join string may carry (48 bits; what users might type by hand). */
export const CERT_HASH_MIN_HEX = 12;
export const CERT_HASH_MAX_HEX = 64;
/**
 * What add-node prints: 128 bits, so forging a certificate with the same prefix (a second
 * preimage) is out of reach; the 48-bit minimum is accepted but much weaker.
 */
export const CERT_HASH_PRINTED_HEX = 32;

/** SHA-256 of the DER of the first certificate in `pem`, lowercase hex. */
export function certificateHash(pem: string | Buffer): string {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (error) {
    throw new MicroK8sError('MK_TLS', 'not a PEM certificate', {}, { cause: error });
  }
  return createHash('sha256').update(cert.raw).digest('hex');
}

export function certificateHashPrefix(pem: string | Buffer, chars: number = CERT_HASH_PRINTED_HEX): string {
  if (!Number.isInteger(chars) || chars < CERT_HASH_MIN_HEX || chars > CERT_HASH_MAX_HEX) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `a certificate hash prefix has ${CERT_HASH_MIN_HEX} to ${CERT_HASH_MAX_HEX} characters`,
    );
  }
  return certificateHash(pem).slice(0, chars);
}

/** Whether the certificate's hash starts with `prefix` (too short a prefix never matches). */
export function certificateMatchesHash(pem: string | Buffer, prefix: string): boolean {
  if (prefix.length < CERT_HASH_MIN_HEX || prefix.length > CERT_HASH_MAX_HEX) return false;
  return certificateHash(pem).startsWith(prefix.toLowerCase());
}
