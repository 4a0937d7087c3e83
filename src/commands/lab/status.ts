import { formatLabTable } from '../../lab/format.js';
import { formatKubeLabStatus, kubeLabStatus, readKubeLab } from '../../lab/kube/cluster.js';
import { labStatus } from '../../lab/processes.js';
import { labDirFlag, MicroK8sCommand } from '../../lib/command.js';

export default class LabStatus extends MicroK8sCommand {
  static override summary =
    'Show every lab node: pid, address, role, Raft state and progress (a Kubernetes lab: roles and each node as Kubernetes sees it).';
  static override examples = ['<%= config.bin %> lab status', '<%= config.bin %> lab status --json'];
  static override enableJsonFlag = true;
  static override flags = { dir: labDirFlag };

  async run() {
    const { flags } = await this.parse(LabStatus);
    if (readKubeLab(flags.dir)) {
      const status = await kubeLabStatus(flags.dir);
      this.log(formatKubeLabStatus(status));
      return { dir: flags.dir, formation: 'kube', ...status };
    }
    const nodes = await labStatus(flags.dir);
    this.log(formatLabTable(nodes));
    return { dir: flags.dir, nodes };
  }
}
