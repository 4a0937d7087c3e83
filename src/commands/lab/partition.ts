import { Args } from '@oclif/core';
import { kubeLabPartition } from '../../lab/kube/cluster.js';
import { labDirFlag, MicroK8sCommand } from '../../lib/command.js';

export default class LabPartition extends MicroK8sCommand {
  static override summary =
    'Cut the named nodes of a Kubernetes lab off from the others, as a split between two data centres.';
  static override description =
    "The cut-off nodes' links move to a bridge of their own: each side reaches its own nodes only, and packets across are dropped silently. One split at a time: a new one replaces the last. `lab heal` ends it.";
  static override examples = [
    '<%= config.bin %> lab partition node1',
    '<%= config.bin %> lab partition node4 node5',
  ];
  static override enableJsonFlag = true;
  static override strict = false;
  static override args = { node: Args.string({ description: 'node names to cut off', required: true }) };
  static override flags = { dir: labDirFlag };

  async run() {
    const { argv, flags } = await this.parse(LabPartition);
    const sides = kubeLabPartition(flags.dir, argv as string[]);
    this.log(`cut off: ${sides.cut.join(', ')}; the rest: ${sides.rest.join(', ')}`);
    return sides;
  }
}
