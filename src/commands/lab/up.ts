import { Flags } from '@oclif/core';
import { labDirFlag } from '../../datastore/lab/flags.js';
import { formatLabTable } from '../../datastore/lab/format.js';
import { labUp } from '../../datastore/lab/lab.js';
import { MicroK8sCommand } from '../../lib/command.js';

export default class LabUp extends MicroK8sCommand {
  static override summary = 'Start a local HA datastore lab: N real nodes on loopback addresses.';
  static override examples = ['<%= config.bin %> lab up', '<%= config.bin %> lab up --nodes 5 --json'];
  static override enableJsonFlag = true;
  static override flags = {
    nodes: Flags.integer({ description: 'number of nodes', default: 3, min: 1, max: 9 }),
    dir: labDirFlag,
    'base-address': Flags.string({
      description: 'address of the first node; the others count up',
      default: '127.0.1.1',
    }),
  };

  async run() {
    const { flags } = await this.parse(LabUp);
    const tty = process.stderr.isTTY && !this.jsonEnabled();
    const nodes = await labUp({
      nodes: flags.nodes,
      dir: flags.dir,
      baseAddress: flags['base-address'],
      onProgress: (line) => {
        if (this.jsonEnabled()) return;
        if (tty) process.stderr.write(`\r\x1b[2K  waiting: ${line}`);
      },
    });
    if (tty) process.stderr.write('\r\x1b[2K');
    this.log(formatLabTable(nodes));
    this.log(
      `\nThe lab is up. Try: etcdctl --endpoints=${nodes.map((n) => n.clientEndpoint).join(',')} put hello world`,
    );
    return { dir: flags.dir, nodes };
  }
}
