import { Args, Flags } from '@oclif/core';
import { addRepository } from '../../../addons/repo-store.js';
import { MicroK8sCommand } from '../../../lib/command.js';
import { resolvePaths } from '../../../lib/paths.js';

export default class RepoAdd extends MicroK8sCommand {
  static override summary =
    'Add an addon repository (a folder or a git repository with addons.yaml) to this node.';
  static override description = [
    'A folder is used in place. A git URL (scheme://..., user@host:path, or a path ending in .git), or any source',
    "given with --reference, is cloned with the system git under the node's common folder and checked out at the",
    "reference (a branch, a tag or a commit; default: the remote's default branch). The index is checked first:",
    'without addons.yaml, or with a broken one, it is MK_ADDON_REPOSITORY (exit 78) and nothing is recorded (the',
    'clone is removed). An unreachable URL is MK_ADDON_GIT_UNREACHABLE (3), an unknown reference MK_ADDON_GIT_REFERENCE (4).',
  ].join(' ');
  static override examples = [
    '<%= config.bin %> addons repo add mine ./my-addons',
    '<%= config.bin %> addons repo add community https://example.org/addons.git --reference v1.2.0',
  ];
  static override enableJsonFlag = true;
  static override args = {
    name: Args.string({ description: 'the repository name (as in REPO/ADDON)', required: true }),
    source: Args.string({ description: 'the folder, or the git URL', required: true }),
  };
  static override flags = {
    reference: Flags.string({ description: 'a git branch, tag or commit to check out' }),
  };

  async run() {
    const { args, flags } = await this.parse(RepoAdd);
    const repo = await addRepository(
      resolvePaths(),
      args.name,
      args.source,
      flags.reference === undefined ? {} : { reference: flags.reference },
    );
    this.log(
      `added repository ${repo.name} (${repo.dir}): ${repo.addons.map((a) => a.name).join(', ') || 'no addons'}`,
    );
    return { name: repo.name, path: repo.dir, addons: repo.addons.map((a) => a.name) };
  }
}
