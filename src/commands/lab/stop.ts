import { Args } from '@oclif/core';
import { kubeLabNodeCommand, readKubeLab } from '../../lab/kube/cluster.js';
import { labSignal } from '../../lab/processes.js';
import { labDirFlag, MicroK8sCommand } from '../../lib/command.js';

export default class LabStop extends MicroK8sCommand {
  static override summary = 'Stop a lab node cleanly (SIGTERM: it hands its role and leadership over first).';
  static override examples = ['<%= config.bin %> lab stop node1'];
  static override enableJsonFlag = true;
  static override args = { node: Args.string({ description: 'node name (node1) or id', required: true }) };
  static override flags = { dir: labDirFlag };

  async run() {
    const { args, flags } = await this.parse(LabStop);
    if (readKubeLab(flags.dir)) {
      const stopped = await kubeLabNodeCommand(flags.dir, args.node, 'stop');
      this.log(`${stopped.name} stopped (microk8s stop in the node)`);
      return { name: stopped.name, signal: 'SIGTERM' };
    }
    const node = await labSignal(flags.dir, args.node, 'SIGTERM');
    this.log(`${node.name} (pid ${node.pid}) stopped by SIGTERM`);
    return { name: node.name, pid: node.pid, signal: 'SIGTERM' };
  }
}
