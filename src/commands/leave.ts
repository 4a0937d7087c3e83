import { Flags } from '@oclif/core';
import { agentContext } from '../cluster/agent/context.js';
import { runLeave } from '../cluster/agent/leave.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';

export default class Leave extends MicroK8sCommand {
  static override summary =
    'Leave the cluster: hand the role over, leave the datastore, become a fresh single node.';
  static override description =
    'The old data and certificates are kept as *-before-leave-<UTC> backups. It refuses to break quorum: the node stays a member when no other can take its voter seat.';
  static override examples = ['<%= config.bin %> leave', '<%= config.bin %> leave --start'];
  static override enableJsonFlag = true;
  static override flags = {
    start: Flags.boolean({
      description: 'start the new single-node datastore (outside a snap)',
      default: false,
    }),
  };

  async run() {
    const { flags } = await this.parse(Leave);
    const result = await runLeave(agentContext(resolvePaths()), {
      start: flags.start,
      onProgress: (line) => this.logToStderr(line),
    });
    this.log(`node${result.leftNode} left the cluster; now a single node of cluster ${result.clusterId}`);
    return result;
  }
}
