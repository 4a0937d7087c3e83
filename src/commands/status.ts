import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';
import { readNodeStatus } from '../services/status.js';

export default class Status extends MicroK8sCommand {
  static override summary = 'Show what is running on this node.';
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json'];
  static override enableJsonFlag = true;

  async run() {
    const status = readNodeStatus(resolvePaths());
    if (!status.running) {
      this.log('microk8s is not running: no service has been started on this node.');
      this.log(`  data: ${status.dataDir}`);
    } else {
      this.log('microk8s is running');
    }
    for (const service of status.services) {
      this.log(`  ${service.name}: ${service.running ? `running (pid ${service.pid})` : 'stopped'}`);
    }
    return status;
  }
}
