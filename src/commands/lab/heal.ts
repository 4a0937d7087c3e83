import { kubeLabHeal } from '../../lab/kube/cluster.js';
import { labDirFlag, MicroK8sCommand } from '../../lib/command.js';

export default class LabHeal extends MicroK8sCommand {
  static override summary = 'End a partition of a Kubernetes lab: every node on one network again.';
  static override examples = ['<%= config.bin %> lab heal'];
  static override enableJsonFlag = true;
  static override flags = { dir: labDirFlag };

  async run() {
    const { flags } = await this.parse(LabHeal);
    const healed = kubeLabHeal(flags.dir);
    this.log(healed.length > 0 ? `healed: ${healed.join(', ')} back on the lab's network` : 'no partition');
    return { healed };
  }
}
