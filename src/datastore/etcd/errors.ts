/**
 * etcd's client-visible errors: the exact message and gRPC status code of each, because clients
 * (clientv3 in kube-apiserver and etcdctl, the etcd3 npm client) recognise errors by message.
 * Everything a handler throws goes through `toGrpcError` once, at the edge.
 */
import { isMicroK8sError } from '../../lib/errors.js';
import type { CommandError } from '../state/types.js';
import { Status, type StatusCode, type StatusObject } from './grpc/index.js';

export interface EtcdErrorSpec {
  readonly code: StatusCode;
  readonly message: string;
}

function spec(code: StatusCode, message: string): EtcdErrorSpec {
  return { code, message };
}

/** The etcd errors this server produces, by name. */
export const ETCD_ERRORS = {
  emptyKey: spec(Status.INVALID_ARGUMENT, 'etcdserver: key is not provided'),
  keyNotFound: spec(Status.INVALID_ARGUMENT, 'etcdserver: key not found'),
  valueProvided: spec(Status.INVALID_ARGUMENT, 'etcdserver: value is provided'),
  leaseProvided: spec(Status.INVALID_ARGUMENT, 'etcdserver: lease is provided'),
  tooManyOps: spec(Status.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'),
  duplicateKey: spec(Status.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'),
  invalidSortOption: spec(Status.INVALID_ARGUMENT, 'etcdserver: invalid sort option'),
  requestTooLarge: spec(Status.INVALID_ARGUMENT, 'etcdserver: request is too large'),
  compacted: spec(Status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'),
  futureRevision: spec(Status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'),
  leaseNotFound: spec(Status.NOT_FOUND, 'etcdserver: requested lease not found'),
  leaseExists: spec(Status.FAILED_PRECONDITION, 'etcdserver: lease already exists'),
  leaseTtlTooLarge: spec(Status.OUT_OF_RANGE, 'etcdserver: too large lease TTL'),
  tooManyRequests: spec(Status.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'),
  noLeader: spec(Status.UNAVAILABLE, 'etcdserver: no leader'),
  leaderChanged: spec(Status.UNAVAILABLE, 'etcdserver: leader changed'),
  stopped: spec(Status.UNAVAILABLE, 'etcdserver: server stopped'),
  timeout: spec(Status.UNAVAILABLE, 'etcdserver: request timed out'),
  timeoutDueToLeaderFail: spec(
    Status.UNAVAILABLE,
    'etcdserver: request timed out, possibly due to previous leader failure',
  ),
  watchCanceled: spec(Status.CANCELLED, 'etcdserver: watch canceled'),
  corrupt: spec(Status.DATA_LOSS, 'etcdserver: corrupt cluster'),
  noSpace: spec(Status.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'),
} as const;

export type EtcdErrorName = keyof typeof ETCD_ERRORS;

/** Watch cancel reasons (not gRPC errors: they travel in WatchResponse.cancel_reason). */
export const WATCH_CANCEL_REASONS = {
  compacted: 'mvcc: required revision has been compacted',
  emptyRange: 'mvcc: watcher range is empty',
  duplicateId: 'mvcc: duplicate watch ID provided on the WatchStream',
} as const;

const BY_MESSAGE = new Map<string, EtcdErrorSpec>(Object.values(ETCD_ERRORS).map((s) => [s.message, s]));

/** A thrown etcd error; handlers throw these for request validation. */
export class EtcdApiError extends Error {
  readonly grpcCode: StatusCode;
  constructor(readonly spec: EtcdErrorSpec) {
    super(spec.message);
    this.name = 'EtcdApiError';
    this.grpcCode = spec.code;
  }
}

export function etcdError(name: EtcdErrorName): EtcdApiError {
  return new EtcdApiError(ETCD_ERRORS[name]);
}

/** An INVALID_ARGUMENT with a message of our own, for requests etcd has no message for. */
export function invalidRequest(detail: string): EtcdApiError {
  return new EtcdApiError(spec(Status.INVALID_ARGUMENT, `etcdserver: ${detail}`));
}

/** The etcd error of a MicroK8sError code (or a CommandError code) when the message is not etcd's own. */
function specForCode(code: string, message: string): EtcdErrorSpec | undefined {
  switch (code) {
    case 'MK_COMPACTED':
      return ETCD_ERRORS.compacted;
    case 'MK_FUTURE_REVISION':
      return ETCD_ERRORS.futureRevision;
    case 'MK_LEASE_NOT_FOUND':
      return ETCD_ERRORS.leaseNotFound;
    case 'MK_NO_LEADER':
    case 'MK_NOT_LEADER':
      return ETCD_ERRORS.noLeader;
    case 'MK_PROPOSAL_DROPPED':
    case 'MK_TRANSFER_IN_PROGRESS':
    case 'MK_LEADER_CHANGED':
      return ETCD_ERRORS.leaderChanged;
    case 'MK_TIMEOUT':
      return ETCD_ERRORS.timeout;
    case 'MK_LEADER_LOST':
      return ETCD_ERRORS.timeoutDueToLeaderFail;
    case 'MK_STOPPED':
    case 'MK_NOT_RUNNING':
      return ETCD_ERRORS.stopped;
    case 'MK_LIMIT_EXCEEDED':
      return ETCD_ERRORS.tooManyRequests;
    case 'MK_DATA_CORRUPTION':
      return ETCD_ERRORS.corrupt;
    case 'MK_NO_SPACE':
      return ETCD_ERRORS.noSpace;
    case 'MK_INVALID_ARGUMENT':
      return spec(
        Status.INVALID_ARGUMENT,
        message.startsWith('etcdserver: ') ? message : `etcdserver: ${message}`,
      );
    default:
      return undefined;
  }
}

/** The etcd error of a deterministic command failure. */
export function commandErrorSpec(error: CommandError): EtcdErrorSpec {
  return (
    BY_MESSAGE.get(error.message) ??
    specForCode(error.code, error.message) ??
    spec(Status.UNKNOWN, error.message)
  );
}

export interface MappedError {
  readonly spec: EtcdErrorSpec;
  /** Not an operating error: a bug, worth an error log line. */
  readonly unexpected: boolean;
}

/** Map anything thrown by a handler or the backend to etcd's status and message. */
export function mapError(error: unknown): MappedError {
  if (error instanceof EtcdApiError) return { spec: error.spec, unexpected: false };
  if (isMicroK8sError(error)) {
    const known = BY_MESSAGE.get(error.message) ?? specForCode(error.code, error.message);
    if (known) return { spec: known, unexpected: false };
    return { spec: spec(Status.UNKNOWN, error.message), unexpected: error.code === 'MK_INTERNAL' };
  }
  // A bug (assertion, TypeError...): never leak a stack, never crash the server.
  return { spec: spec(Status.INTERNAL, 'etcdserver: internal error'), unexpected: true };
}

/** The error a handler hands to the gRPC server (unary callback or a stream's 'error'). */
export function toServiceError(s: EtcdErrorSpec): StatusObject {
  return { code: s.code, details: s.message };
}

/** The CommandError of an ApplyResult as a throwable. */
export function commandFailure(error: CommandError): EtcdApiError {
  return new EtcdApiError(commandErrorSpec(error));
}
