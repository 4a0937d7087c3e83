import { runPassthrough } from '../cluster/kubernetes/passthrough.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';

/** Listed for --help; bin/run.js runs it before oclif, so every argument reaches ctr. */
export default class Ctr extends MicroK8sCommand {
  static override summary =
    "containerd's ctr on this node's socket, in the k8s.io namespace; every argument is ctr's.";
  static override examples = ['<%= config.bin %> ctr images list'];
  static override strict = false;

  async run() {
    this.exit(await runPassthrough(resolvePaths(), 'ctr', this.argv));
  }
}
