import { Flags } from '@oclif/core';
import { MicroK8sCommand } from '../lib/command.js';
import { MicroK8sError } from '../lib/errors.js';
import { resolvePaths } from '../lib/paths.js';
import { type HoldRequest, holdRefreshes, SNAPD_MAX_SELF_HOLD_DAYS } from '../lifecycle/refresh-policy.js';

export default class RefreshHold extends MicroK8sCommand {
  static override summary = "Hold this node's snap refreshes until a time, until released, or release them.";
  static override description =
    `Inside the snap only. snapd lets a snap hold its own refreshes from its gate-auto-refresh hook only (\`snapctl refresh --hold\`, at most ${SNAPD_MAX_SELF_HOLD_DAYS} days at a time): this command records the hold, and the hook asks snapd to hold at each auto-refresh while the hold is in effect. Exit code 3 with MK_SNAPD_TOO_OLD when snapd gives snaps no refresh control.`;
  static override examples = [
    '<%= config.bin %> refresh-hold --until 2027-01-15T00:00:00Z',
    '<%= config.bin %> refresh-hold --forever',
    '<%= config.bin %> refresh-hold --release',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    until: Flags.string({
      description: 'hold until this time (ISO 8601)',
      exclusive: ['forever', 'release'],
    }),
    forever: Flags.boolean({ description: 'hold until released', exclusive: ['until', 'release'] }),
    release: Flags.boolean({ description: 'drop the hold', exclusive: ['until', 'forever'] }),
  };

  async run() {
    const { flags } = await this.parse(RefreshHold);
    let request: HoldRequest;
    if (flags.release) request = { release: true };
    else if (flags.forever) request = { forever: true };
    else if (flags.until !== undefined) {
      const until = new Date(flags.until);
      if (Number.isNaN(until.getTime()))
        throw new MicroK8sError('MK_INVALID_ARGUMENT', `--until ${flags.until} is not a time (ISO 8601)`);
      request = { until };
    } else throw new MicroK8sError('MK_USAGE', 'give one of --until TIME, --forever or --release');
    const result = await holdRefreshes(resolvePaths(), request);
    const channel = result.channel ? ` (channel ${result.channel})` : '';
    if (!result.held) this.log(`Refreshes of microk8s${channel} are no longer held.`);
    else
      this.log(
        `Refreshes of microk8s${channel} held ${'forever' in result.held ? 'until released' : `until ${result.held.until}`}.`,
      );
    if (result.cappedBySnapd)
      this.log(
        `snapd grants a snap's own hold at most ${SNAPD_MAX_SELF_HOLD_DAYS} days; past that it refreshes anyway (hold on the host with \`snap refresh --hold\` for longer).`,
      );
    return result;
  }
}
