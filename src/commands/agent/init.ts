import { Flags } from '@oclif/core';
import { agentContext } from '../../cluster/agent/context.js';
import { initSingleNode } from '../../cluster/agent/node-init.js';
import { MicroK8sCommand } from '../../lib/command.js';
import { resolvePaths } from '../../lib/paths.js';
import { daemonCommand } from '../../services/spawn.js';

export default class AgentInit extends MicroK8sCommand {
  static override summary =
    'Set this node up as a single-node cluster: certificates, datastore and agent args.';
  static override description =
    "What the snap's install hook does: the node's certificate set (its own CA), $SNAP_DATA/args/datastore for a one-node datastore (a new cluster id) and $SNAP_DATA/args/cluster-agent. It starts nothing. Exit codes: 0 done; 4 already set up without --force, or a bad address.";
  static override examples = ['<%= config.bin %> agent init --address 10.0.0.1'];
  static override enableJsonFlag = true;
  static override flags = {
    address: Flags.string({ description: 'the IP address other nodes reach this one at', required: true }),
    hostname: Flags.string({ description: 'the node name (default: this machine hostname)' }),
    'agent-port': Flags.integer({ description: 'cluster agent port', min: 1, max: 65535 }),
    'peer-port': Flags.integer({ description: 'datastore peer (Raft) port', min: 1, max: 65535 }),
    'client-port': Flags.integer({ description: 'datastore etcd API port (TLS)', min: 1, max: 65535 }),
    force: Flags.boolean({ description: 'write the configuration again over an existing one' }),
  };

  async run() {
    const { flags } = await this.parse(AgentInit);
    const ctx = agentContext(resolvePaths());
    const result = await initSingleNode(ctx, {
      address: flags.address,
      ...(flags.hostname ? { hostname: flags.hostname } : {}),
      ...(flags['agent-port'] ? { agentPort: flags['agent-port'] } : {}),
      ...(flags['peer-port'] ? { peerPort: flags['peer-port'] } : {}),
      ...(flags['client-port'] ? { clientPort: flags['client-port'] } : {}),
      force: flags.force,
    });
    this.log(`Set up a single-node cluster ${result.clusterId}; the agent will listen on ${result.bind}.`);
    this.log('Start it with:');
    this.log(`  ${daemonCommand(['datastore', 'run', '--args-file', result.datastoreArgs]).join(' ')}`);
    this.log(`  ${daemonCommand(['agent', 'run']).join(' ')}`);
    return result;
  }
}
