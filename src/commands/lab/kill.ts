import { Args } from '@oclif/core';
import { kubeLabKill, readKubeLab } from '../../lab/kube/cluster.js';
import { labSignal } from '../../lab/processes.js';
import { labDirFlag, MicroK8sCommand } from '../../lib/command.js';

export default class LabKill extends MicroK8sCommand {
  static override summary = 'Kill a lab node at once (SIGKILL), as a crash would.';
  static override examples = ['<%= config.bin %> lab kill node1'];
  static override enableJsonFlag = true;
  static override args = { node: Args.string({ description: 'node name (node1) or id', required: true }) };
  static override flags = { dir: labDirFlag };

  async run() {
    const { args, flags } = await this.parse(LabKill);
    if (readKubeLab(flags.dir)) {
      const killed = await kubeLabKill(flags.dir, args.node);
      this.log(`${killed.name}: every process and container SIGKILLed, as a crash would`);
      return { name: killed.name, signal: 'SIGKILL' };
    }
    const node = await labSignal(flags.dir, args.node, 'SIGKILL');
    this.log(`${node.name} (pid ${node.pid}) stopped by SIGKILL`);
    return { name: node.name, pid: node.pid, signal: 'SIGKILL' };
  }
}
