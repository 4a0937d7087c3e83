/**
 * The base of every command: it turns an operating error into its stable code, hint and exit
 * code (and into a JSON error object with --json), so commands stay thin.
 */
import { join } from 'node:path';
import { Command, Flags } from '@oclif/core';
import { isMicroK8sError } from './errors.js';
import { resolvePaths } from './paths.js';

export abstract class MicroK8sCommand extends Command {
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
