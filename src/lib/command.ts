/**
 * The base of every command: it turns an operating error into its stable code, hint and exit
 * code (and into a JSON error object whenever JSON was asked for, by --json or --format json),
 * so commands stay thin.
 */
import { join } from 'node:path';
import { Command, Flags } from '@oclif/core';
import { isMicroK8sError } from './errors.js';
import { resolvePaths } from './paths.js';

/**
 * Whether `--format json` / `--format=json` (the MicroK8s spelling of oclif's --json) comes
 * before any `--`. Read from argv because oclif asks before parsing.
 */
export function formatJsonRequested(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  const args = end === -1 ? argv : argv.slice(0, end);
  return args.some((arg, i) => arg === '--format=json' || (arg === '--format' && args[i + 1] === 'json'));
}

/**
 * The one output path of every command: text goes through this.log (silent when JSON was asked
 * for); the value run() returns is printed as JSON when it was, and so is any MicroK8sError.
 */
export abstract class MicroK8sCommand extends Command {
  override jsonEnabled(): boolean {
    return super.jsonEnabled() || formatJsonRequested(this.argv);
  }

  /** Print text lines unless JSON was asked for (then run()'s result is the output). */
  protected logLines(lines: readonly string[]): void {
    for (const line of lines) this.log(line);
  }

  protected override async catch(error: Error & { exitCode?: number }): Promise<unknown> {
    if (!isMicroK8sError(error)) return super.catch(error);
    if (this.jsonEnabled()) {
      this.logJson({ error: error.toJSON() });
    } else {
      process.stderr.write(`Error [${error.code}]: ${error.message}\nHint: ${error.hint}\n`);
    }
    return this.exit(error.exitCode);
  }
}

/**
 * The lab folder flag of every `lab` command: --dir, or `lab` under this user's microk8s folder.
 * Flags are oclif's, so they live here with the base command, not in the lab library.
 */
export const labDirFlag = Flags.string({
  description: 'folder of the lab (default: <MICROK8S_HOME>/common/lab)',
  default: async () => join(resolvePaths().common, 'lab'),
});
