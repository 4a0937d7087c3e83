/**
 * gRPC status codes (the numbers are part of the protocol: doc/statuscodes.md of the gRPC
 * project), the errors a handler hands back, and the percent-encoding of grpc-message.
 */

export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type StatusCode = (typeof Status)[keyof typeof Status];

const HIGHEST_CODE = Status.UNAUTHENTICATED;

/** The final status of a call: grpc-status and grpc-message. */
export interface StatusObject {
  readonly code: StatusCode;
  readonly details: string;
}

/**
 * What a handler passes to a unary callback or emits as 'error' on a stream: the shape grpc-js
 * handlers use ({ code, details }), or any Error (then UNKNOWN with its message).
 */
export interface ServiceErrorLike {
  readonly code?: number;
  readonly details?: string;
  readonly message?: string;
  /** Accepted for compatibility; trailing metadata is not sent. */
  readonly metadata?: unknown;
}

/** A status raised inside the server (framing, limits, routing); `code` is the gRPC code. */
export class GrpcStatusError extends Error {
  constructor(
    readonly code: StatusCode,
    readonly details: string,
  ) {
    super(details);
    this.name = 'GrpcStatusError';
  }
}

export function isStatusCode(code: unknown): code is StatusCode {
  return typeof code === 'number' && Number.isInteger(code) && code >= 0 && code <= HIGHEST_CODE;
}

/**
 * The status a handler's error stands for. A known non-OK code keeps its details (or the message);
 * anything else is UNKNOWN, so that an error can never read as success.
 */
export function statusOf(error: unknown): StatusObject {
  if (error !== null && typeof error === 'object') {
    const e = error as ServiceErrorLike;
    const text =
      typeof e.details === 'string' ? e.details : typeof e.message === 'string' ? e.message : undefined;
    if (isStatusCode(e.code) && e.code !== Status.OK) return { code: e.code, details: text ?? '' };
    return { code: Status.UNKNOWN, details: text ?? 'unknown error' };
  }
  return { code: Status.UNKNOWN, details: typeof error === 'string' ? error : 'unknown error' };
}

/** Bytes that go into grpc-message as they are: printable ASCII except '%'. */
const PLAIN_MESSAGE = /^[\x20-\x24\x26-\x7e]*$/;

/**
 * grpc-message is the UTF-8 text percent-encoded: every byte outside 0x20..0x7E, and '%' itself,
 * becomes %XX (the gRPC over HTTP/2 spec).
 */
export function encodeGrpcMessage(text: string): string {
  if (PLAIN_MESSAGE.test(text)) return text;
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    if (byte >= 0x20 && byte <= 0x7e && byte !== 0x25) out += String.fromCharCode(byte);
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The inverse of encodeGrpcMessage; a malformed escape is kept as it is, as the spec asks. */
export function decodeGrpcMessage(value: string): string {
  if (!value.includes('%')) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && i + 2 < value.length && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(value[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
