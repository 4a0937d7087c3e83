import { MicroK8sCommand } from '../lib/command.js';
import { versionInfo } from '../lib/version.js';

export default class Version extends MicroK8sCommand {
  static override summary = 'Print the version and revision of microk8s.';
  static override examples = ['<%= config.bin %> version', '<%= config.bin %> version --json'];
  static override enableJsonFlag = true;

  async run() {
    const info = versionInfo();
    this.log(`microk8s ${info.version} revision ${info.revision}`);
    return info;
  }
}
