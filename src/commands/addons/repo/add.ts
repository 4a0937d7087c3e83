import { Args } from '@oclif/core';
import { addRepository } from '../../../addons/repo-store.js';
import { MicroK8sCommand } from '../../../lib/command.js';
import { resolvePaths } from '../../../lib/paths.js';

export default class RepoAdd extends MicroK8sCommand {
  static override summary = 'Add an addon repository (a folder with addons.yaml) to this node.';
  static override description =
    'The index is checked first: a folder without addons.yaml, or with a broken one, is MK_ADDON_REPOSITORY (exit 78) and nothing is recorded.';
  static override examples = ['<%= config.bin %> addons repo add mine ./my-addons'];
  static override enableJsonFlag = true;
  static override args = {
    name: Args.string({ description: 'the repository name (as in REPO/ADDON)', required: true }),
    path: Args.string({ description: 'the folder', required: true }),
  };

  async run() {
    const { args } = await this.parse(RepoAdd);
    const repo = await addRepository(resolvePaths(), args.name, args.path);
    this.log(
      `added repository ${repo.name} (${repo.dir}): ${repo.addons.map((a) => a.name).join(', ') || 'no addons'}`,
    );
    return { name: repo.name, path: repo.dir, addons: repo.addons.map((a) => a.name) };
  }
}
