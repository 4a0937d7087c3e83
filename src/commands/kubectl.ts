import { runPassthrough } from '../cluster/kubernetes/passthrough.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';

/** Listed for --help; bin/run.js runs it before oclif, so every argument reaches kubectl. */
export default class Kubectl extends MicroK8sCommand {
  static override summary = "kubectl with this node's admin kubeconfig; every argument is kubectl's.";
  static override examples = ['<%= config.bin %> kubectl get nodes'];
  static override strict = false;

  async run() {
    this.exit(await runPassthrough(resolvePaths(), 'kubectl', this.argv));
  }
}
