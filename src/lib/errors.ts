/**
 * Operating errors: each has a stable `code` that scripts and tests can rely on, an exit code
 * for the CLI and a hint that tells the user what to do. The one table below is the only place
 * where a code is given its exit code and hint.
 */

/** Exit codes of the CLI (documented in the README). */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  unavailable: 3,
  invalidInput: 4,
  dataCorruption: 5,
  configuration: 78,
  internal: 70,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

interface ErrorSpec {
  readonly exitCode: ExitCode;
  readonly hint: string;
}

export const ERROR_TABLE = {
  MK_USAGE: { exitCode: ExitCode.usage, hint: 'Run `microk8s --help` to see the commands and their flags.' },
  MK_NODE_TOO_OLD: {
    exitCode: ExitCode.configuration,
    hint: 'Run microk8s through `npx microk8s` in the project folder; the project pins its Node.js runtime.',
  },
  MK_INVALID_CONFIG: { exitCode: ExitCode.configuration, hint: 'Fix the named setting and try again.' },
  MK_INVALID_ARGUMENT: { exitCode: ExitCode.invalidInput, hint: 'Check the value against the command help.' },
  MK_LIMIT_EXCEEDED: {
    exitCode: ExitCode.invalidInput,
    hint: 'The request is larger than a configured limit; split it or raise the limit.',
  },
  MK_NOT_RUNNING: { exitCode: ExitCode.unavailable, hint: 'Start the node first and try again.' },
  MK_NOT_LEADER: {
    exitCode: ExitCode.unavailable,
    hint: 'This node is not the leader; retry on the leader or wait for an election.',
  },
  MK_NO_LEADER: {
    exitCode: ExitCode.unavailable,
    hint: 'The cluster has no leader right now (no quorum reachable); it recovers when a majority of voters is back.',
  },
  MK_LEADER_CHANGED: {
    exitCode: ExitCode.unavailable,
    hint: 'The leader changed while the request was in flight; it may or may not have been applied. Retry it.',
  },
  MK_PROPOSAL_DROPPED: { exitCode: ExitCode.unavailable, hint: 'The proposal was not accepted; retry it.' },
  MK_TRANSFER_IN_PROGRESS: {
    exitCode: ExitCode.unavailable,
    hint: 'A leadership transfer is in progress; retry in a moment.',
  },
  MK_UNSAFE_MEMBERSHIP_CHANGE: {
    exitCode: ExitCode.invalidInput,
    hint: 'The change would leave the cluster without a quorum or break the one-change-at-a-time rule; wait for the pending change or add voters first.',
  },
  MK_DATA_CORRUPTION: {
    exitCode: ExitCode.dataCorruption,
    hint: 'The files were kept untouched; restore from a backup or recover from the other members.',
  },
  MK_BAD_FRAME: {
    exitCode: ExitCode.invalidInput,
    hint: 'A peer sent a malformed or oversized frame; the connection was closed and the node carries on.',
  },
  MK_PEER_REJECTED: {
    exitCode: ExitCode.unavailable,
    hint: 'The peer presented a certificate or identity this cluster does not accept.',
  },
  MK_TLS: { exitCode: ExitCode.configuration, hint: 'Check the certificates under the certs folder.' },
  MK_COMPACTED: {
    exitCode: ExitCode.invalidInput,
    hint: 'The requested revision has been compacted; read at a newer revision.',
  },
  MK_FUTURE_REVISION: {
    exitCode: ExitCode.invalidInput,
    hint: 'The requested revision is newer than the current revision.',
  },
  MK_LEASE_NOT_FOUND: { exitCode: ExitCode.invalidInput, hint: 'The lease does not exist or has expired.' },
  MK_NO_SPACE: {
    exitCode: ExitCode.unavailable,
    hint: 'The database is over its space quota: compact, defragment, then disarm the NOSPACE alarm.',
  },
  MK_TIMEOUT: { exitCode: ExitCode.unavailable, hint: 'The operation did not finish in time; retry it.' },
  MK_STOPPED: { exitCode: ExitCode.unavailable, hint: 'The node is stopping or stopped.' },
  MK_INTERNAL: { exitCode: ExitCode.internal, hint: 'This is a bug; please report it with the logs.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_TABLE;

export function errorSpec(code: ErrorCode): ErrorSpec {
  return ERROR_TABLE[code];
}

/** Base class of every operating error. */
export class MicroK8sError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  readonly hint: string;
  readonly info: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, info: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MicroK8sError';
    this.code = code;
    const spec = errorSpec(code);
    this.exitCode = spec.exitCode;
    this.hint = spec.hint;
    this.info = info;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint, ...this.info };
  }
}

export function isMicroK8sError(error: unknown, code?: ErrorCode): error is MicroK8sError {
  return error instanceof MicroK8sError && (code === undefined || error.code === code);
}
