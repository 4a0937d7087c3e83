import { Flags } from '@oclif/core';
import { labAddNode } from '../../lab/moves.js';
import { labDirFlag, MicroK8sCommand } from '../../lib/command.js';

export default class LabAdd extends MicroK8sCommand {
  static override summary =
    'Add a node to the running lab: it joins as a spare and the roles planner promotes it.';
  static override examples = [
    '<%= config.bin %> lab add',
    '<%= config.bin %> lab add --failure-domain zone-2 --weight 5',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    dir: labDirFlag,
    'failure-domain': Flags.string({ description: 'failure domain of the new node' }),
    weight: Flags.integer({ description: 'weight of the new node (lower is preferred)', min: 0 }),
  };

  async run() {
    const { flags } = await this.parse(LabAdd);
    const node = await labAddNode(flags.dir, {
      ...(flags['failure-domain'] !== undefined ? { failureDomain: flags['failure-domain'] } : {}),
      ...(flags.weight !== undefined ? { weight: flags.weight } : {}),
    });
    this.log(`${node.name} (pid ${node.pid}) joined on ${node.address}`);
    return { name: node.name, id: node.id, pid: node.pid, address: node.address };
  }
}
