import { Flags } from '@oclif/core';
import {
  describePlan,
  executeRecovery,
  planRecovery,
  survivorFromArgs,
} from '../../datastore/recovery/recover.js';
import { MicroK8sCommand } from '../../lib/command.js';

export default class DbctlRecover extends MicroK8sCommand {
  static override summary = 'Recover the datastore after losing a majority of its voters for good.';
  static override description =
    'Run with the survivors stopped. Without --force it only shows what it would do. With --force it backs up every survivor, picks the one with the most complete log, forces a membership made of the survivors (all voters) and gives them a new cluster id, so a lost member that comes back is refused until re-joined. Then start the survivors.';
  static override examples = [
    '<%= config.bin %> dbctl recover --survivor $SNAP_DATA/args/datastore',
    '<%= config.bin %> dbctl recover --survivor node4/args --survivor node5/args --force',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    survivor: Flags.string({
      description: 'args file of a surviving, stopped datastore node (repeat for each survivor)',
      multiple: true,
      required: true,
    }),
    force: Flags.boolean({
      description: 'carry the recovery out (otherwise only show the plan)',
      default: false,
    }),
  };

  async run() {
    const { flags } = await this.parse(DbctlRecover);
    const plan = await planRecovery(flags.survivor.map(survivorFromArgs));
    for (const line of describePlan(plan)) this.log(line);
    if (!flags.force) {
      this.log('nothing changed: run again with --force to recover');
      return { done: false, plan };
    }
    const result = await executeRecovery(plan);
    this.log(`recovered: start the survivors (${plan.survivors.map((s) => `node ${s.id}`).join(', ')})`);
    return { done: true, plan, backups: result.backups };
  }
}
