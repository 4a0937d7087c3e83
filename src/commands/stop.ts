import { stopNode } from '../cluster/kubernetes/lifecycle.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';

export default class Stop extends MicroK8sCommand {
  static override summary = "Stop this node's services, its pods' containers and their shims.";
  static override examples = ['<%= config.bin %> stop'];
  static override enableJsonFlag = true;

  async run() {
    const result = await stopNode(resolvePaths());
    this.log(result.wasRunning ? (result.forced ? 'stopped (forced)' : 'stopped') : 'not running');
    return result;
  }
}
