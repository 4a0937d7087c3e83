import { Args } from '@oclif/core';
import { removeRepository } from '../../../addons/repo-store.js';
import { MicroK8sCommand } from '../../../lib/command.js';
import { resolvePaths } from '../../../lib/paths.js';

export default class RepoRemove extends MicroK8sCommand {
  static override summary =
    'Remove an added addon repository from this node (a git clone is deleted; its enabled addons keep running).';
  static override examples = ['<%= config.bin %> addons repo remove mine'];
  static override enableJsonFlag = true;
  static override args = { name: Args.string({ description: 'the repository name', required: true }) };

  async run() {
    const { args } = await this.parse(RepoRemove);
    await removeRepository(resolvePaths(), args.name);
    this.log(`removed repository ${args.name}`);
    return { removed: args.name };
  }
}
