/** Small helpers shared by the case files: bytes, etcd's enum numbers, loosely typed clients. */
import type { Ctx } from '../harness.js';

// biome-ignore lint/suspicious/noExplicitAny: requests and responses are checked by comparison
export type Msg = any;

export function b(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/** RangeRequest.SortOrder */
export const ORDER = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const;
/** RangeRequest.SortTarget */
export const BY = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const;
/** Compare.CompareResult */
export const CMP = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;
/** Compare.CompareTarget */
export const TARGET = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;
/** WatchCreateRequest.FilterType */
export const FILTER = { NOPUT: 0, NODELETE: 1 } as const;

/** The etcd3 client's raw KV calls (client.kv.*), loosely typed: exact request shapes. */
export interface LooseKv {
  range(req: Msg): Promise<Msg>;
  put(req: Msg): Promise<Msg>;
  deleteRange(req: Msg): Promise<Msg>;
  txn(req: Msg): Promise<Msg>;
  compact(req: Msg): Promise<Msg>;
}

export function kvOf(ctx: Ctx): LooseKv {
  return ctx.c.kv as unknown as LooseKv;
}

/** The etcd3 client's raw Lease calls (client.leaseClient.*). */
export interface LooseLease {
  leaseGrant(req: Msg): Promise<Msg>;
  leaseRevoke(req: Msg): Promise<Msg>;
  leaseTimeToLive(req: Msg): Promise<Msg>;
  leaseLeases(): Promise<Msg>;
}

export function leaseOf(ctx: Ctx): LooseLease {
  return ctx.c.leaseClient as unknown as LooseLease;
}

/** Put several keys of the case, one revision each, in order. */
export async function putAll(ctx: Ctx, entries: [string, string][]): Promise<void> {
  for (const [k, v] of entries)
    await ctx.must(`put ${k}=${v}`, kvOf(ctx).put({ key: ctx.key(k), value: b(v) }));
}

/** Only the keys of a range response, as text. */
export function keysOf(res: Msg): string[] {
  return (res?.kvs ?? []).map((kv: Msg) => Buffer.from(kv.key).toString());
}
