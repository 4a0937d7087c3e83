import { Args } from '@oclif/core';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';
import { runSnapDaemon } from '../lifecycle/snap-daemon.js';

export default class SnapDaemon extends MicroK8sCommand {
  static override summary = "Run one of the node's daemons in the foreground (snapd's app daemon-NAME).";
  static override hidden = true;
  static override args = { name: Args.string({ required: true, description: 'a service of the catalog' }) };

  async run() {
    const { args } = await this.parse(SnapDaemon);
    process.exitCode = await runSnapDaemon(resolvePaths(), args.name);
  }
}
