/**
 * The etcd v3 wire definitions (our own .proto files in ./proto, see rpc.proto) and the request
 * and response shapes the handlers use.
 *
 * Where they are found: tsc does not copy .proto files into dist/, so they are read from the
 * source tree at `<package root>/src/datastore/etcd/proto` in both layouts (`packageRoot()` is
 * the same for src/ under tsx and for dist/). A package or snap must ship that folder next to
 * dist/; a missing file fails the server's construction with MK_INTERNAL naming the path.
 *
 * The codec is our own (protobuf/): it parses these .proto files and decodes to exactly the
 * objects @grpc/proto-loader gave with LOADER_OPTIONS (the tests hold it to that, with
 * proto-loader as the oracle), so that protobufjs, proto-loader and long never load in the
 * daemon. The decoded shapes, relied on by every handler (see the Wire* types):
 *  - keepCase: field names exactly as in the .proto (range_end, prev_kv, ID, TTL);
 *  - longs: String, int64/uint64 arrive as decimal strings and are converted with BigInt, so no
 *    precision is lost before a range check; the server sends numbers (safe integers) or decimal
 *    strings (uint64 ids from bigint);
 *  - bytes: Buffer; enums: Number (unknown enum values stay visible and can be rejected);
 *  - defaults: true, every scalar is present; oneofs: true, the oneof name holds the set member.
 */
import { join } from 'node:path';
import type * as protoLoader from '@grpc/proto-loader';
import { packageRoot } from '../../lib/paths.js';
import { type EtcdServiceDefinitions, etcdServiceDefinitions } from './protobuf/service.js';

export const PROTO_FILES = ['rpc.proto', 'kv.proto', 'health.proto'] as const;

/** proto-loader's options that our decoder reproduces (for the tests that compare the two). */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: Number,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

/** The folder of the .proto files, the same from src/ and from dist/. */
export function protoDir(root: string = packageRoot()): string {
  return join(root, 'src', 'datastore', 'etcd', 'proto');
}

export type EtcdServices = EtcdServiceDefinitions;

/**
 * Parse the definitions (once per folder per process; cached by etcdServiceDefinitions). A
 * missing or unreadable file, imports included, fails with MK_INTERNAL naming it.
 */
export function loadEtcdServices(dir: string = protoDir()): EtcdServices {
  return etcdServiceDefinitions(dir);
}

/** int64 as decoded (longs: String). */
export type WireInt64 = string;

export interface WireRangeRequest {
  key: Buffer;
  range_end: Buffer;
  limit: WireInt64;
  revision: WireInt64;
  sort_order: number;
  sort_target: number;
  serializable: boolean;
  keys_only: boolean;
  count_only: boolean;
  min_mod_revision: WireInt64;
  max_mod_revision: WireInt64;
  min_create_revision: WireInt64;
  max_create_revision: WireInt64;
}

export interface WirePutRequest {
  key: Buffer;
  value: Buffer;
  lease: WireInt64;
  prev_kv: boolean;
  ignore_value: boolean;
  ignore_lease: boolean;
}

export interface WireDeleteRangeRequest {
  key: Buffer;
  range_end: Buffer;
  prev_kv: boolean;
}

export interface WireRequestOp {
  request?: 'request_range' | 'request_put' | 'request_delete_range' | 'request_txn';
  request_range?: WireRangeRequest | null;
  request_put?: WirePutRequest | null;
  request_delete_range?: WireDeleteRangeRequest | null;
  request_txn?: WireTxnRequest | null;
}

export interface WireCompare {
  result: number;
  target: number;
  key: Buffer;
  target_union?: 'version' | 'create_revision' | 'mod_revision' | 'value' | 'lease';
  version?: WireInt64;
  create_revision?: WireInt64;
  mod_revision?: WireInt64;
  value?: Buffer;
  lease?: WireInt64;
  range_end: Buffer;
}

export interface WireTxnRequest {
  compare: WireCompare[];
  success: WireRequestOp[];
  failure: WireRequestOp[];
}

export interface WireCompactionRequest {
  revision: WireInt64;
  physical: boolean;
}

export interface WireWatchCreateRequest {
  key: Buffer;
  range_end: Buffer;
  start_revision: WireInt64;
  progress_notify: boolean;
  filters: number[];
  prev_kv: boolean;
  watch_id: WireInt64;
  fragment: boolean;
}

export interface WireWatchRequest {
  request_union?: 'create_request' | 'cancel_request' | 'progress_request';
  create_request?: WireWatchCreateRequest | null;
  cancel_request?: { watch_id: WireInt64 } | null;
  progress_request?: Record<string, never> | null;
}

export interface WireLeaseGrantRequest {
  TTL: WireInt64;
  ID: WireInt64;
}

export interface WireLeaseIdRequest {
  ID: WireInt64;
}

export interface WireLeaseTimeToLiveRequest {
  ID: WireInt64;
  keys: boolean;
}

export interface WireAlarmRequest {
  action: number;
  memberID: WireInt64;
  alarm: number;
}

// ------------------------------------------------------------------ response shapes

/** What the server sends for an int64/uint64: a safe integer or a decimal string. */
export type OutInt64 = number | string;

export interface OutHeader {
  cluster_id: OutInt64;
  member_id: OutInt64;
  revision: OutInt64;
  raft_term: OutInt64;
}

export interface OutKeyValue {
  key: Uint8Array;
  create_revision: OutInt64;
  mod_revision: OutInt64;
  version: OutInt64;
  value: Uint8Array;
  lease: OutInt64;
}

export interface OutEvent {
  type: number;
  kv: OutKeyValue;
  prev_kv?: OutKeyValue;
}

export interface OutWatchResponse {
  header: OutHeader;
  watch_id: OutInt64;
  created?: boolean;
  canceled?: boolean;
  compact_revision?: OutInt64;
  cancel_reason?: string;
  fragment?: boolean;
  events?: OutEvent[];
}
