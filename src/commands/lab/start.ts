import { Args } from '@oclif/core';
import { kubeLabNodeCommand, readKubeLab } from '../../lab/kube/cluster.js';
import { labStart } from '../../lab/processes.js';
import { labDirFlag, MicroK8sCommand } from '../../lib/command.js';

export default class LabStart extends MicroK8sCommand {
  static override summary = 'Start a stopped or killed lab node again.';
  static override examples = ['<%= config.bin %> lab start node1'];
  static override enableJsonFlag = true;
  static override args = { node: Args.string({ description: 'node name (node1) or id', required: true }) };
  static override flags = { dir: labDirFlag };

  async run() {
    const { args, flags } = await this.parse(LabStart);
    if (readKubeLab(flags.dir)) {
      const started = await kubeLabNodeCommand(flags.dir, args.node, 'start');
      this.log(`${started.name} started (microk8s start in the node)`);
      return { name: started.name };
    }
    const node = await labStart(flags.dir, args.node);
    this.log(`${node.name} started (pid ${node.pid})`);
    return { name: node.name, pid: node.pid };
  }
}
