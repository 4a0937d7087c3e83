import { Flags } from '@oclif/core';
import { labRecover } from '../../lab/recovery.js';
import { labDirFlag, MicroK8sCommand } from '../../lib/command.js';

export default class LabRecover extends MicroK8sCommand {
  static override summary =
    'Recover the lab after losing a majority of voters: the running nodes go on as the cluster.';
  static override description =
    'The running nodes are the survivors and the stopped ones are lost for good. With --force the survivors are stopped, recovered like `dbctl recover --force` and started again.';
  static override examples = ['<%= config.bin %> lab recover', '<%= config.bin %> lab recover --force'];
  static override enableJsonFlag = true;
  static override flags = {
    dir: labDirFlag,
    force: Flags.boolean({
      description: 'carry the recovery out (otherwise only show what it would do)',
      default: false,
    }),
  };

  async run() {
    const { flags } = await this.parse(LabRecover);
    const result = await labRecover(flags.dir, { force: flags.force });
    this.log(`survivors: ${result.survivors.join(', ')}; lost for good: ${result.lost.join(', ') || 'none'}`);
    if (!result.plan) {
      this.log('nothing changed: run again with --force to recover');
      return { done: false, ...result };
    }
    for (const line of result.plan) this.log(line);
    this.log('recovered: the survivors are running as the cluster');
    return { done: true, ...result };
  }
}
