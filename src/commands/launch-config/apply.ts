import { Flags } from '@oclif/core';
import { disableAddons, enableAddons } from '../../addons/operations.js';
import { MicroK8sCommand } from '../../lib/command.js';
import { resolvePaths } from '../../lib/paths.js';
import { applyLaunchPlanWhenUp } from '../../lifecycle/launch-plan.js';

export default class LaunchConfigApply extends MicroK8sCommand {
  static override summary = "Enable the launch configuration's addons that the install hook queued.";
  static override description = [
    'The install hook applies a launch configuration (/etc/microk8s.yaml or $SNAP_COMMON/.microk8s.yaml) at once,',
    'except its addons: they need a running Kubernetes, so they are queued and this command enables (or disables) them in order,',
    'resuming after the last one done. With --wait it tries again while the node is not up yet.',
    'Exit codes: 0 applied or nothing queued; 3 the node is not up (after --wait); those of `microk8s enable` otherwise.',
  ].join(' ');
  static override examples = ['<%= config.bin %> launch-config apply --wait 600'];
  static override enableJsonFlag = true;
  static override flags = {
    wait: Flags.integer({
      description: 'seconds to keep trying while the node is not up yet',
      min: 0,
      max: 3600,
      default: 0,
    }),
  };

  async run() {
    const { flags } = await this.parse(LaunchConfigApply);
    const result = await applyLaunchPlanWhenUp(
      resolvePaths(),
      { enable: enableAddons, disable: disableAddons },
      (line) => {
        if (!this.jsonEnabled()) this.log(line);
      },
      flags.wait * 1000,
    );
    if (!result.pending) this.log('no launch configuration addons queued');
    return result;
  }
}
