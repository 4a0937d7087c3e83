import { Flags } from '@oclif/core';
import { formatStartResult, startNode, startOptions } from '../cluster/kubernetes/lifecycle.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';

export default class Start extends MicroK8sCommand {
  static override summary = "Start this node's services (setting a new node up first).";
  static override description =
    "On a node that was never set up, does what the install hook does: certificates, a single-node datastore, the services' args files. Then starts the services under the supervisor and returns once each has started; `microk8s status --wait-ready` waits until Kubernetes serves.";
  static override examples = [
    '<%= config.bin %> start',
    '<%= config.bin %> start --address 10.0.0.5',
    '<%= config.bin %> start --etcd-endpoints https://10.0.0.7:2379 --etcd-cafile ca.crt --etcd-certfile client.crt --etcd-keyfile client.key',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    address: Flags.string({ description: "a new node's address (default: the first usable address)" }),
    hostname: Flags.string({ description: "a new node's name (default: this machine's hostname)" }),
    'etcd-endpoints': Flags.string({
      description:
        'kube-apiserver on this external etcd cluster instead of the embedded datastore (comma-separated https URLs)',
    }),
    'etcd-cafile': Flags.string({
      description: "the external etcd's CA certificate",
      dependsOn: ['etcd-endpoints'],
    }),
    'etcd-certfile': Flags.string({
      description: 'client certificate for the external etcd',
      dependsOn: ['etcd-endpoints'],
    }),
    'etcd-keyfile': Flags.string({
      description: 'client key for the external etcd',
      dependsOn: ['etcd-endpoints'],
    }),
  };

  async run() {
    const { flags } = await this.parse(Start);
    const result = await startNode(
      resolvePaths(),
      startOptions({
        address: flags.address,
        hostname: flags.hostname,
        etcdEndpoints: flags['etcd-endpoints'],
        etcdCaFile: flags['etcd-cafile'],
        etcdCertFile: flags['etcd-certfile'],
        etcdKeyFile: flags['etcd-keyfile'],
      }),
    );
    for (const line of formatStartResult(result)) this.log(line);
    return result;
  }
}
