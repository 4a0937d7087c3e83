import { labKubectlCommand } from '../../lab/kube/cluster.js';
import { MicroK8sCommand } from '../../lib/command.js';

/** Listed for --help; bin/run.js runs it before oclif, so every argument reaches kubectl. */
export default class LabKubectl extends MicroK8sCommand {
  static override summary = 'kubectl against the Kubernetes lab, through its first live node.';
  static override examples = [
    '<%= config.bin %> lab kubectl get nodes -o wide',
    '<%= config.bin %> lab kubectl --dir /tmp/lab get pods -A',
  ];
  static override strict = false;

  async run() {
    this.exit(await labKubectlCommand(this.argv));
  }
}
