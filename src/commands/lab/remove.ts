import { Args, Flags } from '@oclif/core';
import { labRemoveNode } from '../../lab/moves.js';
import { labDirFlag, MicroK8sCommand } from '../../lib/command.js';

export default class LabRemove extends MicroK8sCommand {
  static override summary =
    'Remove a member from the lab cluster (refused while it is alive, unless --force).';
  static override description =
    'A voter is replaced by a caught-up standby and demoted before it is removed, so quorum is never lost.';
  static override examples = [
    '<%= config.bin %> lab remove node4',
    '<%= config.bin %> lab remove node4 --force',
  ];
  static override enableJsonFlag = true;
  static override args = { node: Args.string({ description: 'node name (node1) or id', required: true }) };
  static override flags = {
    dir: labDirFlag,
    force: Flags.boolean({ description: 'remove it even while the leader hears from it', default: false }),
  };

  async run() {
    const { args, flags } = await this.parse(LabRemove);
    const node = await labRemoveNode(flags.dir, args.node, { force: flags.force });
    this.log(`${node.name} is no longer a member`);
    return { name: node.name, id: node.id, removed: true };
  }
}
