import { formatLabTable } from '../../lab/format.js';
import { labStatus } from '../../lab/processes.js';
import { labDirFlag, MicroK8sCommand } from '../../lib/command.js';

export default class LabStatus extends MicroK8sCommand {
  static override summary = 'Show every lab node: pid, address, role, Raft state and progress.';
  static override examples = ['<%= config.bin %> lab status', '<%= config.bin %> lab status --json'];
  static override enableJsonFlag = true;
  static override flags = { dir: labDirFlag };

  async run() {
    const { flags } = await this.parse(LabStatus);
    const nodes = await labStatus(flags.dir);
    this.log(formatLabTable(nodes));
    return { dir: flags.dir, nodes };
  }
}
