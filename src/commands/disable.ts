import { Flags } from '@oclif/core';
import { disableAddons } from '../addons/operations.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';

export default class Disable extends MicroK8sCommand {
  static override summary = 'Disable addons: their objects are deleted; --purge also removes their data.';
  static override description =
    'An addon another enabled addon depends on is refused without --force (MK_ADDON_CONFLICT). One enable or disable runs at a time in the whole cluster.';
  static override examples = ['<%= config.bin %> disable dns', '<%= config.bin %> disable storage --purge'];
  static override enableJsonFlag = true;
  static override strict = false;
  static override flags = {
    purge: Flags.boolean({ description: "also remove the addon's data (e.g. hostpath volumes)" }),
    force: Flags.boolean({ description: 'disable even when another enabled addon depends on it' }),
  };

  async run() {
    const { flags } = await this.parse(Disable);
    const ours = new Set(['--purge', '--force', '--json', '--format=json']);
    const words = this.argv.filter((w) => !ours.has(w));
    const outcomes = await disableAddons(
      resolvePaths(),
      words,
      { purge: flags.purge, force: flags.force },
      (line) => {
        if (!this.jsonEnabled()) this.log(line);
      },
    );
    return { addons: outcomes };
  }
}
