import { Args } from '@oclif/core';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';
import { runHook } from '../lifecycle/hooks.js';

export default class SnapHook extends MicroK8sCommand {
  static override summary = "Run one of the snap's hooks (snapd runs these; snap/hooks/NAME).";
  static override hidden = true;
  static override args = {
    name: Args.string({
      required: true,
      description: 'install, configure, pre-refresh, post-refresh, remove or gate-auto-refresh',
    }),
  };
  static override enableJsonFlag = true;

  async run() {
    const { args } = await this.parse(SnapHook);
    const result = await runHook(args.name, resolvePaths());
    for (const line of result.lines) this.log(line);
    return result.result;
  }
}
