/**
 * One build tool run by a recipe (go, apt-get, dpkg-deb, busybox): its stdout, or
 * MK_IMAGE_BUILD_FAILED with the tool's last lines when it cannot start or fails.
 */
import { MicroK8sError } from '../../../src/lib/errors.js';
import { runFile } from '../../../src/lib/run-file.js';

export interface ToolOptions {
  readonly timeoutMs: number;
  readonly cwd?: string;
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
}

export async function tool(file: string, args: readonly string[], options: ToolOptions): Promise<string> {
  const command = [file, ...args].join(' ');
  const result = await runFile(file, args, {
    timeoutMs: options.timeoutMs,
    env: { ...process.env, ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  }).catch((error: unknown) => {
    throw new MicroK8sError('MK_IMAGE_BUILD_FAILED', `cannot run ${command}: ${(error as Error).message}`);
  });
  if (result.exitCode !== 0) {
    const why = result.timedOut
      ? `timed out after ${options.timeoutMs} ms`
      : result.stderr.trim().split('\n').slice(-5).join('\n');
    throw new MicroK8sError('MK_IMAGE_BUILD_FAILED', `${command} failed: ${why}`, {
      exitCode: result.exitCode,
    });
  }
  return result.stdout;
}
