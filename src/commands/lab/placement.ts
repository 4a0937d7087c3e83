import { Args, Flags } from '@oclif/core';
import { kubeLabPlacement, readKubeLab } from '../../lab/kube/cluster.js';
import { labSetPlacement } from '../../lab/moves.js';
import { labDirFlag, MicroK8sCommand } from '../../lib/command.js';

export default class LabPlacement extends MicroK8sCommand {
  static override summary = "Change a lab node's failure domain or weight at run time.";
  static override description =
    'The change is replicated to every member (the roles planner of whichever node leads uses it) and written to the node args file, so a restart keeps it.';
  static override examples = [
    '<%= config.bin %> lab placement node4 --failure-domain dc2',
    '<%= config.bin %> lab placement node5 --weight 10',
  ];
  static override enableJsonFlag = true;
  static override args = { node: Args.string({ description: 'node name (node1) or id', required: true }) };
  static override flags = {
    dir: labDirFlag,
    'failure-domain': Flags.string({ description: 'new failure domain (voters are spread across domains)' }),
    weight: Flags.integer({ description: 'new weight (lower is preferred for voters)', min: 0 }),
  };

  async run() {
    const { args, flags } = await this.parse(LabPlacement);
    const wanted = {
      ...(flags['failure-domain'] !== undefined ? { failureDomain: flags['failure-domain'] } : {}),
      ...(flags.weight !== undefined ? { weight: flags.weight } : {}),
    };
    const placement = readKubeLab(flags.dir)
      ? await kubeLabPlacement(flags.dir, args.node, wanted)
      : await labSetPlacement(flags.dir, args.node, wanted);
    this.log(`${args.node}: failure domain ${placement.failureDomain}, weight ${placement.weight}`);
    return { node: args.node, ...placement };
  }
}
