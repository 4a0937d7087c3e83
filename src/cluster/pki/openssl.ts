/**
 * The one way the PKI runs openssl. Errors carry openssl's stderr, which names files and
 * never prints their contents, so key material cannot reach a log or an error message.
 */
import { execa } from 'execa';
import { MicroK8sError } from '../../lib/errors.js';

/** One openssl run; generation takes milliseconds, so this only catches a wedged binary. */
export const OPENSSL_TIMEOUT_MS = 30_000;

export async function openssl(args: readonly string[], what: string): Promise<string> {
  try {
    const result = await execa('openssl', args, { timeout: OPENSSL_TIMEOUT_MS, stdin: 'ignore' });
    return result.stdout;
  } catch (error) {
    const stderr = (error as { stderr?: unknown }).stderr;
    throw new MicroK8sError(
      'MK_TLS',
      `openssl failed to ${what}${typeof stderr === 'string' && stderr ? `: ${stderr.trim()}` : ''}`,
      {},
      { cause: error },
    );
  }
}
