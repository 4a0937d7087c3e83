import { Args } from '@oclif/core';
import { labMoveNode } from '../../lab/moves.js';
import { labDirFlag, MicroK8sCommand } from '../../lib/command.js';

export default class LabMove extends MicroK8sCommand {
  static override summary =
    'Give a lab node a new address (as when its IP changes): the others follow by themselves.';
  static override examples = ['<%= config.bin %> lab move node3 127.0.1.33'];
  static override enableJsonFlag = true;
  static override args = {
    node: Args.string({ description: 'node name (node1) or id', required: true }),
    address: Args.string({ description: 'the new loopback address (127.x.y.z)', required: true }),
  };
  static override flags = { dir: labDirFlag };

  async run() {
    const { args, flags } = await this.parse(LabMove);
    const node = await labMoveNode(flags.dir, args.node, args.address);
    this.log(`${node.name} (pid ${node.pid}) now listens on ${node.address}`);
    return { name: node.name, address: node.address, pid: node.pid };
  }
}
