import { runSupervisor } from '../../cluster/kubernetes/supervise.js';
import { MicroK8sCommand } from '../../lib/command.js';
import { resolvePaths } from '../../lib/paths.js';

export default class SupervisorRun extends MicroK8sCommand {
  static override summary =
    "Run and watch this node's services (what `microk8s start` leaves running outside a snap).";
  static override description =
    'Starts the datastore, the cluster agent, containerd and the Kubernetes components in dependency order, restarts any that dies (bounded backoff), logs each to <common>/logs/<service>.log and reports to <common>/run/supervisor.json. SIGTERM or SIGINT stops them all, containers and shims included.';

  async run() {
    await runSupervisor(resolvePaths());
  }
}
