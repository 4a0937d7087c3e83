/**
 * 64-bit integers as two unsigned 32-bit halves (lo, hi), the form varints are read and written
 * in. Numbers below 2^53 never touch BigInt: most int64s on this wire are revisions, lease ids
 * and sizes far below that, and BigInt allocation is the cost that matters on the hot path.
 */

const TWO_32 = 4294967296;
/** hi below this: the value is below 2^53 and exact as a number. */
const SAFE_HI = 0x200000;
/** Decimal strings this short (without the sign) are exact numbers: 10^15 < 2^53. */
const SAFE_DECIMAL_DIGITS = 15;
const TWO_63 = 2 ** 63;

/**
 * The result of `split`: written to a shared pair rather than returned, so that converting a value
 * allocates nothing. Callers read it at once (all of this is synchronous).
 */
export const halves = { lo: 0, hi: 0 };

/** Two's complement negation of (lo, hi) into `halves`. */
function negate(lo: number, hi: number): void {
  const nlo = (~lo + 1) >>> 0;
  halves.lo = nlo;
  halves.hi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
}

/** A safe integer into `halves` (negative: two's complement, as protobuf writes int64). */
function splitSafe(n: number): void {
  if (n >= 0) {
    halves.lo = n >>> 0;
    halves.hi = (n / TWO_32) >>> 0;
    return;
  }
  const m = -n;
  negate(m >>> 0, (m / TWO_32) >>> 0);
}

function splitBig(v: bigint): void {
  const u = BigInt.asUintN(64, v);
  halves.lo = Number(u & 0xffffffffn);
  halves.hi = Number(u >> 32n);
}

/** Longer decimal strings than this (without the sign) go through BigInt: 2^64 has 20 digits. */
const MAX_DECIMAL_DIGITS = 20;
/** 10^15 as 32-bit halves: a long decimal is (its first digits) * 10^15 + (its last 15 digits). */
const E15_LO = 10 ** 15 % TWO_32;
const E15_HI = Math.floor(10 ** 15 / TWO_32);

/**
 * A decimal string of digits (optional leading '-') into `halves`, wrapped to 64 bits like
 * BigInt.asUintN; false for anything else. uint64 ids (cluster, member) are 20-digit strings on
 * every response header: this spares them a BigInt each.
 */
function splitDecimal(s: string): boolean {
  const negative = s.charCodeAt(0) === 45;
  const start = negative ? 1 : 0;
  const digits = s.length - start;
  if (digits === 0 || digits > MAX_DECIMAL_DIGITS) return false;
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  if (digits <= SAFE_DECIMAL_DIGITS) {
    splitSafe(Number(s));
    return true;
  }
  // Both parts are exact numbers; high * 10^15 is done in halves (each product below 2^53).
  const cut = s.length - SAFE_DECIMAL_DIGITS;
  let high = 0;
  for (let i = start; i < cut; i++) high = high * 10 + (s.charCodeAt(i) - 48);
  let low = 0;
  for (let i = cut; i < s.length; i++) low = low * 10 + (s.charCodeAt(i) - 48);
  const p = high * E15_LO;
  const sumLo = (p % TWO_32) + (low % TWO_32);
  const carry = Math.floor(p / TWO_32) + (sumLo >= TWO_32 ? 1 : 0);
  halves.lo = sumLo >>> 0;
  halves.hi = (high * E15_HI + Math.floor(low / TWO_32) + carry) >>> 0;
  if (negative) negate(halves.lo, halves.hi);
  return true;
}

/**
 * Any accepted int64/uint64 value into `halves`; returns false for a value of a type that is not
 * an integer at all. Accepted, as protobufjs's fromObject did: numbers (truncated, saturating at
 * the signed 64-bit range like Long.fromNumber; NaN is 0), decimal strings and bigints (wrapped to
 * 64 bits), and Long-like { low, high } objects.
 */
export function split(v: unknown): boolean {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) splitSafe(v);
    else if (Number.isNaN(v)) splitSafe(0);
    else if (v >= TWO_63 - 1) splitBig((1n << 63n) - 1n);
    else if (v <= -TWO_63) splitBig(-(1n << 63n));
    else splitBig(BigInt(Math.trunc(v)));
    return true;
  }
  if (typeof v === 'string') {
    if (splitDecimal(v)) return true;
    let big: bigint;
    try {
      big = BigInt(v);
    } catch {
      return false;
    }
    splitBig(big);
    return true;
  }
  if (typeof v === 'bigint') {
    splitBig(v);
    return true;
  }
  if (typeof v === 'object' && v !== null) {
    const { low, high } = v as { low?: unknown; high?: unknown };
    if (typeof low === 'number' && typeof high === 'number') {
      halves.lo = low >>> 0;
      halves.hi = high >>> 0;
      return true;
    }
  }
  return false;
}

/** (lo, hi) as an unsigned decimal string. */
export function unsignedDecimal(lo: number, hi: number): string {
  if (hi < SAFE_HI) return String(hi * TWO_32 + lo);
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}

/** (lo, hi) as a signed (two's complement) decimal string. */
export function signedDecimal(lo: number, hi: number): string {
  if (hi < SAFE_HI) return String(hi * TWO_32 + lo);
  if (hi >= 0x80000000) {
    negate(lo, hi);
    if (halves.hi < SAFE_HI) return `-${halves.hi * TWO_32 + halves.lo}`;
  }
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString();
}
