import { Args } from '@oclif/core';
import { updateRepository } from '../../../addons/repo-store.js';
import { MicroK8sCommand } from '../../../lib/command.js';
import { resolvePaths } from '../../../lib/paths.js';

export default class RepoUpdate extends MicroK8sCommand {
  static override summary = 'Fetch a git addon repository and check out its reference again.';
  static override description =
    "A branch moves to the remote's new head; a tag or commit stays unless the remote moved it. The new index is checked before it is used (a broken one leaves the old commit). A folder repository is refused: MK_ADDON_REPO_NOT_GIT (exit 4).";
  static override examples = ['<%= config.bin %> addons repo update community'];
  static override enableJsonFlag = true;
  static override args = { name: Args.string({ description: 'the repository name', required: true }) };

  async run() {
    const { args } = await this.parse(RepoUpdate);
    const updated = await updateRepository(resolvePaths(), args.name);
    this.log(
      updated.previous === updated.commit
        ? `${updated.name} is up to date at ${updated.commit}`
        : `${updated.name}: ${updated.previous ?? '(none)'} -> ${updated.commit}`,
    );
    return updated;
  }
}
