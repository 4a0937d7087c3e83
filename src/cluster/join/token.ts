/**
 * add-node tokens: random hex strings that let one machine join. Only their SHA-256 is ever
 * stored, so a leaked token file does not leak usable tokens.
 */
import { createHash, randomBytes } from 'node:crypto';
import { MicroK8sError } from '../../lib/errors.js';

/** 32 hex characters = 128 bits from the OS CSPRNG: not guessable within a token's lifetime. */
export const TOKEN_MIN_HEX = 32;
/** Bounds what a caller (or an attacker) can make us hash and store. */
export const TOKEN_MAX_HEX = 256;
const TOKEN_BYTES = TOKEN_MIN_HEX / 2;
const HEX_RE = /^[0-9a-fA-F]+$/;

export function generateToken(): string {
  return randomBytes(TOKEN_BYTES).toString('hex');
}

export function isWellFormedToken(token: string): boolean {
  return HEX_RE.test(token) && token.length >= TOKEN_MIN_HEX && token.length <= TOKEN_MAX_HEX;
}

/** A token chosen by the user (`add-node --token`) must be as strong as a generated one. */
export function checkUserToken(token: string): string {
  if (!isWellFormedToken(token)) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `a token must be ${TOKEN_MIN_HEX} to ${TOKEN_MAX_HEX} hexadecimal characters`,
    );
  }
  return token.toLowerCase();
}

/** SHA-256 of the lowercased token: hex is case-insensitive, so `AB..` and `ab..` are one token. */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token.toLowerCase(), 'utf8').digest();
}
