/**
 * The base of every command: it turns an operating error into its stable code, hint and exit
 * code (and into a JSON error object with --json), so commands stay thin.
 */
import { Command } from '@oclif/core';
import { isMicroK8sError } from './errors.js';

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
