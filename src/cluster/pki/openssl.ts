/**
 * The one way the PKI runs openssl. Errors carry openssl's stderr, which names files and
 * never prints their contents, so key material cannot reach a log or an error message.
 */
import { MicroK8sError } from '../../lib/errors.js';
import { runFile } from '../../lib/run-file.js';

/** One openssl run; generation takes milliseconds, so this only catches a wedged binary. */
export const OPENSSL_TIMEOUT_MS = 30_000;

export async function openssl(args: readonly string[], what: string): Promise<string> {
  const result = await runFile('openssl', args, { timeoutMs: OPENSSL_TIMEOUT_MS }).catch((error: unknown) => {
    throw new MicroK8sError(
      'MK_TLS',
      `openssl failed to ${what}: ${(error as Error).message}`,
      {},
      { cause: error },
    );
  });
  if (result.exitCode !== 0) {
    const why = result.timedOut ? `no answer within ${OPENSSL_TIMEOUT_MS} ms` : result.stderr.trim();
    throw new MicroK8sError('MK_TLS', `openssl failed to ${what}${why ? `: ${why}` : ''}`);
  }
  return result.stdout;
}
