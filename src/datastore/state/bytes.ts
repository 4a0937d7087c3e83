/** Byte helpers shared by the codec, the store and the txn checks. */

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/**
 * The same bytes as a plain Uint8Array. SQLite hands back Buffers; the contract is Uint8Array and
 * one concrete type keeps deep equality (tests, replica comparison) meaningful. No copy is made.
 */
export function plainBytes(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Unsigned lexicographic order, shorter first on a common prefix: etcd's (Go's bytes.Compare) and SQLite's BLOB order. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

/** A string with one char per byte: a cheap exact map key for a byte string. */
export function bytesKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/**
 * The keys a (key, rangeEnd) pair selects, with etcd's rules: no or empty rangeEnd is the single
 * key; a rangeEnd of one zero byte is every key >= key; otherwise [key, rangeEnd).
 */
export type KeySpan =
  | { readonly kind: 'point'; readonly key: Uint8Array }
  | { readonly kind: 'from'; readonly key: Uint8Array }
  | { readonly kind: 'range'; readonly key: Uint8Array; readonly end: Uint8Array };

export function keySpan(key: Uint8Array, rangeEnd: Uint8Array | undefined): KeySpan {
  if (rangeEnd === undefined || rangeEnd.byteLength === 0) return { kind: 'point', key };
  if (rangeEnd.byteLength === 1 && rangeEnd[0] === 0) return { kind: 'from', key };
  return { kind: 'range', key, end: rangeEnd };
}

export function spanContains(span: KeySpan, key: Uint8Array): boolean {
  switch (span.kind) {
    case 'point':
      return equalBytes(span.key, key);
    case 'from':
      return compareBytes(key, span.key) >= 0;
    case 'range':
      return compareBytes(key, span.key) >= 0 && compareBytes(key, span.end) < 0;
  }
}

/** The SQL parameters of a span, in the order `spanWhere` in sql.ts expects them. */
export function spanParams(span: KeySpan): Uint8Array[] {
  return span.kind === 'range' ? [span.key, span.end] : [span.key];
}
