import { Flags } from '@oclif/core';
import { kubeLabDown, readKubeLab } from '../../lab/kube/cluster.js';
import { labDown } from '../../lab/processes.js';
import { labDirFlag, MicroK8sCommand } from '../../lib/command.js';

export default class LabDown extends MicroK8sCommand {
  static override summary = 'Stop every lab node (with --purge, delete the lab folder too).';
  static override examples = ['<%= config.bin %> lab down', '<%= config.bin %> lab down --purge'];
  static override enableJsonFlag = true;
  static override flags = {
    dir: labDirFlag,
    purge: Flags.boolean({ description: 'delete the lab data', default: false }),
  };

  async run() {
    const { flags } = await this.parse(LabDown);
    const stopped = readKubeLab(flags.dir)
      ? await kubeLabDown(flags.dir, flags.purge)
      : await labDown(flags.dir, { purge: flags.purge });
    this.log(`stopped ${stopped} node(s)${flags.purge ? ` and deleted ${flags.dir}` : ''}`);
    return { stopped, purged: flags.purge };
  }
}
