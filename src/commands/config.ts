import { Flags } from '@oclif/core';
import { adminKubeconfig } from '../cluster/kubernetes/admin-config.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';

export default class Config extends MicroK8sCommand {
  static override summary = "Print this node's admin kubeconfig.";
  static override description =
    "The API server is named by the node's address; --use-loopback keeps https://127.0.0.1:16443. The file holds the admin's client key: keep it private.";
  static override examples = [
    '<%= config.bin %> config > ~/.kube/config',
    '<%= config.bin %> config --use-loopback',
  ];
  static override flags = {
    'use-loopback': Flags.boolean({ char: 'l', description: 'name the API server as 127.0.0.1' }),
  };

  async run() {
    const { flags } = await this.parse(Config);
    process.stdout.write(adminKubeconfig(resolvePaths(), { loopback: flags['use-loopback'] }));
  }
}
