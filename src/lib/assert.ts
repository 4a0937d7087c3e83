/**
 * Assertions for programmer errors. They stay on in production: a broken invariant in a
 * replicated datastore must stop the process before it can corrupt other replicas.
 */
export class AssertionError extends Error {
  readonly code = 'MK_ASSERTION';
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new AssertionError(typeof message === 'string' ? message : message());
  }
}

export function unreachable(value: never, what = 'value'): never {
  throw new AssertionError(`unexpected ${what}: ${JSON.stringify(value)}`);
}
