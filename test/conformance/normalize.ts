/**
 * The normal form in which answers of two different clusters can be compared:
 *  - headers lose cluster_id, member_id and raft_term (they differ between any two clusters);
 *  - revisions (revision, create_revision, mod_revision, compact_revision) become "@d", d relative
 *    to the case's baseline revision, because absolute revisions depend on each cluster's history;
 *    0 ("none") stays 0;
 *  - lease ids become "lease#n", numbered in order of appearance (ids are chosen by each server),
 *    unless a case named an id itself (`nameLease`);
 *  - bytes become text (or "hex:..." when not printable text); int64 decimal strings become numbers;
 *  - errors become { code, message } (gRPC) or { name, message } (etcd3 client errors).
 */
import { status } from '@grpc/grpc-js';

const STRIP = new Set(['cluster_id', 'member_id', 'raft_term']);
const REVISIONS = new Set(['revision', 'create_revision', 'mod_revision', 'compact_revision']);
const LEASES = new Set(['lease', 'ID']);
const BYTES = new Set(['key', 'value', 'range_end']);

export function text(bytes: Uint8Array): string {
  // Printable ASCII (and the zero byte of "from key" ranges, shown as \0) stays text.
  if (bytes.every((c) => c === 0 || (c >= 0x20 && c <= 0x7e))) {
    return Buffer.from(bytes).toString('latin1').split(String.fromCharCode(0)).join('\\0');
  }
  return `hex:${Buffer.from(bytes).toString('hex')}`;
}

function isGrpcError(e: unknown): e is { code: number; details: string } {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { code?: unknown }).code === 'number' &&
    typeof (e as { details?: unknown }).details === 'string'
  );
}

/** Normal form of anything thrown: gRPC code name + details, or the client's error class + message. */
export function normalError(e: unknown): Record<string, unknown> {
  if (isGrpcError(e)) return { code: status[e.code] ?? e.code, message: e.details };
  if (e instanceof Error) return { name: e.constructor.name, message: e.message };
  return { thrown: String(e) };
}

export class Normalizer {
  private readonly leases = new Map<string, string>();

  constructor(public readonly base: number) {}

  /** Give a lease id a fixed name (client-chosen ids are the same on both clusters). */
  nameLease(id: string | number | bigint, name: string): void {
    this.leases.set(String(id), name);
  }

  lease(id: unknown): unknown {
    const s = String(id);
    if (s === '0' || s === '') return 0;
    let name = this.leases.get(s);
    if (name === undefined) {
      name = `lease#${this.leases.size + 1}`;
      this.leases.set(s, name);
    }
    return name;
  }

  rev(v: unknown): unknown {
    const n = Number(v);
    if (!Number.isFinite(n)) return v;
    if (n === 0) return 0;
    return `@${n - this.base}`;
  }

  /** The normal form of a response (or any value built from responses). */
  value(v: unknown, field?: string): unknown {
    if (v === null || v === undefined) return v ?? null;
    if (Buffer.isBuffer(v) || v instanceof Uint8Array) return text(v);
    if (Array.isArray(v)) return v.map((x) => this.value(x, field));
    if (typeof v === 'string') {
      if (field && REVISIONS.has(field)) return this.rev(v);
      if (field && LEASES.has(field)) return this.lease(v);
      return /^-?\d+$/.test(v) ? Number(v) : v;
    }
    if (typeof v === 'bigint') return this.value(v.toString(), field);
    if (typeof v === 'number') {
      if (field && REVISIONS.has(field)) return this.rev(v);
      if (field && LEASES.has(field)) return this.lease(v);
      return v;
    }
    if (typeof v !== 'object') return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (STRIP.has(k)) continue;
      out[k] = this.value(x, k);
    }
    return out;
  }
}

/** etcdctl -w json encodes bytes as base64: decode key/value/range_end fields to Buffers. */
export function decodeCtlJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decodeCtlJson);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    out[k] = BYTES.has(k) && typeof x === 'string' ? Buffer.from(x, 'base64') : decodeCtlJson(x);
  }
  return out;
}

/** A stable JSON text (sorted keys), to compare normal forms. */
export function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}

/** Paths where two normal forms differ, with both values (at most `max`). */
export function differences(a: unknown, b: unknown, path = '', max = 12): string[] {
  const out: string[] = [];
  const walk = (x: unknown, y: unknown, p: string) => {
    if (out.length >= max) return;
    if (stable(x) === stable(y)) return;
    if (x && y && typeof x === 'object' && typeof y === 'object' && Array.isArray(x) === Array.isArray(y)) {
      if (Array.isArray(x) && Array.isArray(y) && x.length !== y.length) {
        out.push(`${p || '.'}: length ${y.length} (ours) vs ${x.length} (etcd)`);
        if (x.length === 0 || y.length === 0) return;
      }
      const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
      for (const k of keys) {
        walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], `${p}.${k}`);
      }
      return;
    }
    out.push(`${p || '.'}: ours ${stable(y)} vs etcd ${stable(x)}`);
  };
  walk(a, b, path);
  return out;
}
