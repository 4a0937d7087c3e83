import { listRepositories, repositories } from '../../../addons/repo-store.js';
import { MicroK8sCommand } from '../../../lib/command.js';
import { resolvePaths } from '../../../lib/paths.js';

export default class RepoList extends MicroK8sCommand {
  static override summary =
    "List this node's addon repositories: source (folder or git URL), reference, commit and addons.";
  static override enableJsonFlag = true;

  async run() {
    await this.parse(RepoList);
    const paths = resolvePaths();
    const listed = await listRepositories(paths);
    const repos = repositories(paths).map((r) => {
      const entry = listed.find((l) => l.name === r.name);
      return {
        name: r.name,
        source: entry?.source ?? r.dir,
        path: r.dir,
        ...(entry?.reference === undefined ? {} : { reference: entry.reference }),
        ...(entry?.commit === undefined ? {} : { commit: entry.commit }),
        addons: r.addons.map((a) => a.name),
      };
    });
    for (const r of repos) {
      const at = [r.reference, r.commit?.slice(0, 12)].filter(Boolean).join(' @ ');
      this.log(`${r.name.padEnd(12)} ${r.source}${at ? ` (${at})` : ''}  ${r.addons.join(', ')}`);
    }
    return { repositories: repos };
  }
}
