/**
 * Deterministic command failures. Every replica reaches the same one for the same command, so
 * they become CommandError results instead of exceptions; the messages are etcd's, because
 * clients (etcdctl, kube-apiserver, the etcd3 npm client) match on them.
 */
import { type ErrorCode, MicroK8sError } from '../../lib/errors.js';
import type { CommandError } from './types.js';

export const ETCD_MESSAGES = {
  compacted: 'etcdserver: mvcc: required revision has been compacted',
  futureRevision: 'etcdserver: mvcc: required revision is a future revision',
  leaseNotFound: 'etcdserver: requested lease not found',
  leaseExists: 'etcdserver: lease already exists',
  keyNotFound: 'etcdserver: key not found',
  emptyKey: 'etcdserver: key is not provided',
  valueProvided: 'etcdserver: value is provided',
  leaseProvided: 'etcdserver: lease is provided',
  duplicateKey: 'etcdserver: duplicate key given in txn request',
  /** Not an etcd message: etcd picks ids itself, so a non-positive one never reaches its apply. */
  badLeaseId: 'etcdserver: lease id must be positive',
} as const;

/** A rejection decided by the command and the state alone (never by time or chance). */
export class CommandRejected extends MicroK8sError {
  constructor(code: ErrorCode, message: string) {
    super(code, message);
  }

  toCommandError(): CommandError {
    return { code: this.code, message: this.message };
  }
}

export function compactedError(): CommandRejected {
  return new CommandRejected('MK_COMPACTED', ETCD_MESSAGES.compacted);
}

export function futureRevisionError(): CommandRejected {
  return new CommandRejected('MK_FUTURE_REVISION', ETCD_MESSAGES.futureRevision);
}

export function leaseNotFoundError(): CommandRejected {
  return new CommandRejected('MK_LEASE_NOT_FOUND', ETCD_MESSAGES.leaseNotFound);
}

export function invalidArgument(message: string): CommandRejected {
  return new CommandRejected('MK_INVALID_ARGUMENT', message);
}
