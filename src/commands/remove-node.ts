import { Args, Flags } from '@oclif/core';
import { removeNode } from '../cluster/remove-node.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';

export default class RemoveNode extends MicroK8sCommand {
  static override summary = 'Remove a node from the cluster (refused while it is alive, unless --force).';
  static override description =
    'A voter is replaced by a caught-up standby and demoted before it is removed, and never in a way that loses quorum. A node that is alive should rather run `microk8s leave`.';
  static override examples = [
    '<%= config.bin %> remove-node node3',
    '<%= config.bin %> remove-node 10.0.0.3 --force',
  ];
  static override enableJsonFlag = true;
  static override args = {
    node: Args.string({
      description: 'the node: its id, its name (node3) or its address; a worker: its hostname or address',
      required: true,
    }),
  };
  static override flags = {
    force: Flags.boolean({ description: 'remove it even while it is alive', default: false }),
    timeout: Flags.integer({
      description: 'seconds to wait for the removal',
      default: 60,
      min: 1,
      max: 3600,
    }),
    'datastore-dir': Flags.string({ description: "the local datastore's data folder" }),
  };

  async run() {
    const { args, flags } = await this.parse(RemoveNode);
    const result = await removeNode({
      paths: resolvePaths(),
      node: args.node,
      force: flags.force,
      timeoutS: flags.timeout,
      ...(flags['datastore-dir'] ? { datastoreDir: flags['datastore-dir'] } : {}),
    });
    this.log(
      result.kind === 'member'
        ? `node${result.id} is no longer a member`
        : `worker ${result.hostname} (${result.address}) is no longer part of the cluster; ${result.revoked.length} certificate(s) revoked (the datastore and the agents refuse them; the API servers until they expire)`,
    );
    return result;
  }
}
