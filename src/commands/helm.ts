import { runHelm } from '../addons/helm.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';

/** Listed for --help; bin/run.js runs it before oclif, so every argument reaches helm. */
export default class Helm extends MicroK8sCommand {
  static override summary =
    "helm with this node's admin kubeconfig, once `microk8s enable helm` ran; every argument is helm's.";
  static override aliases = ['helm3'];
  static override examples = [
    '<%= config.bin %> helm install demo ./chart',
    '<%= config.bin %> helm list -A',
  ];
  static override strict = false;

  async run() {
    this.exit(await runHelm(resolvePaths(), this.argv));
  }
}
