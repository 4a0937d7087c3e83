import { enableAddons } from '../addons/operations.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';

export default class Enable extends MicroK8sCommand {
  static override summary = 'Enable addons, with their dependencies, and wait until they are ready.';
  static override description = [
    'Arguments go with the addon they belong to, one way per addon: NAME:VALUE[,VALUE] or NAME --ARG VALUE.',
    'Every manifest is checked against the Kubernetes schemas before anything is applied; a failed enable rolls back what it applied.',
    'One enable or disable runs at a time in the whole cluster. Exit codes: 0 enabled; 4 bad input (MK_ADDON_UNKNOWN, MK_ADDON_ARGS,',
    'MK_ADDON_MANIFEST_INVALID); 1 a step failed (MK_ADDON_FAILED, rolled back); 78 a broken repository (MK_ADDON_REPOSITORY).',
  ].join(' ');
  static override examples = [
    '<%= config.bin %> enable dns storage',
    '<%= config.bin %> enable dns:1.1.1.1,8.8.8.8',
    '<%= config.bin %> enable dns --upstream 1.1.1.1',
    '<%= config.bin %> enable core/hostpath-storage',
  ];
  static override enableJsonFlag = true;
  // Addon names and each addon's own --flags: parsed by the addons library, not by oclif.
  static override strict = false;

  async run() {
    const words = this.argv.filter((w) => w !== '--json' && w !== '--format=json');
    const outcomes = await enableAddons(resolvePaths(), words, (line) => {
      if (!this.jsonEnabled()) this.log(line);
    });
    return { addons: outcomes };
  }
}
