/**
 * One run of a short-lived tool (openssl, snapctl, etcdctl in tests) through node:child_process:
 * its whole output as text, bounded by a timeout. Exit codes are results; only a tool that
 * cannot be started at all (not installed) rejects.
 */
import { execFile } from 'node:child_process';

/** More than any tool we run prints; a larger output is a bug worth an error. */
const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export interface RunFileOptions {
  /** Killed with SIGTERM after this long (then `timedOut`). */
  readonly timeoutMs: number;
  /** Written to stdin; without it stdin is closed at once (the tool reads end of file). */
  readonly input?: string;
  readonly cwd?: string;
  /** The whole environment of the tool (as node:child_process takes it); this process's by default. */
  readonly env?: NodeJS.ProcessEnv;
  /** Output beyond this (stdout or stderr) rejects; the default is far above what our tools print. */
  readonly maxOutputBytes?: number;
}

export interface RunFileResult {
  readonly stdout: string;
  readonly stderr: string;
  /** null when a signal ended it (see `signal`). */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
}

export function runFile(
  file: string,
  args: readonly string[],
  options: RunFileOptions,
): Promise<RunFileResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        encoding: 'utf8',
        timeout: options.timeoutMs,
        maxBuffer: options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
        ...(options.env === undefined ? {} : { env: options.env }),
      },
      (error, stdout, stderr) => {
        // A string code means it never ran (ENOENT, EACCES) or printed too much; a number is
        // its exit code.
        if (typeof (error as NodeJS.ErrnoException | null)?.code === 'string') {
          reject(error);
          return;
        }
        resolve({
          stdout,
          stderr,
          exitCode: child.exitCode,
          signal: child.signalCode,
          // Node kills the child only for the timeout once output overflow is ruled out above.
          timedOut: (error as { killed?: boolean } | null)?.killed === true,
        });
      },
    );
    // An error writing stdin (the tool exited without reading it) shows in the exit status instead.
    child.stdin?.on('error', () => {});
    child.stdin?.end(options.input ?? '');
  });
}
