import { repositories } from '../../../addons/repo-store.js';
import { MicroK8sCommand } from '../../../lib/command.js';
import { resolvePaths } from '../../../lib/paths.js';

export default class RepoList extends MicroK8sCommand {
  static override summary = "List this node's addon repositories and their addons.";
  static override enableJsonFlag = true;

  async run() {
    await this.parse(RepoList);
    const repos = repositories(resolvePaths()).map((r) => ({
      name: r.name,
      path: r.dir,
      addons: r.addons.map((a) => a.name),
    }));
    for (const r of repos) this.log(`${r.name.padEnd(12)} ${r.path}  ${r.addons.join(', ')}`);
    return { repositories: repos };
  }
}
