import { Flags } from '@oclif/core';
import { startNode } from '../cluster/kubernetes/lifecycle.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';

export default class Start extends MicroK8sCommand {
  static override summary = "Start this node's services (setting a new node up first).";
  static override description =
    "On a node that was never set up, does what the install hook does: certificates, a single-node datastore, the services' args files. Then starts the services under the supervisor and returns once each has started; `microk8s status --wait-ready` waits until Kubernetes serves.";
  static override examples = ['<%= config.bin %> start', '<%= config.bin %> start --address 10.0.0.5'];
  static override enableJsonFlag = true;
  static override flags = {
    address: Flags.string({ description: "a new node's address (default: the first usable address)" }),
  };

  async run() {
    const { flags } = await this.parse(Start);
    const result = await startNode(
      resolvePaths(),
      flags.address === undefined ? {} : { address: flags.address },
    );
    if (result.setup.initialised) this.log(`set up a new single-node cluster on ${result.setup.address}`);
    this.log(
      result.alreadyRunning
        ? `already running (supervisor pid ${result.supervisorPid})`
        : `started (supervisor pid ${result.supervisorPid}): ${result.report.services.map((s) => s.name).join(', ')}`,
    );
    return result;
  }
}
