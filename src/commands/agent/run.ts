import { Flags } from '@oclif/core';
import { agentContext, parseBind } from '../../cluster/agent/context.js';
import { startAgent } from '../../cluster/agent/daemon.js';
import { MicroK8sCommand } from '../../lib/command.js';
import { DAEMON_UMASK } from '../../lib/file-modes.js';
import { resolvePaths } from '../../lib/paths.js';

export default class AgentRun extends MicroK8sCommand {
  static override summary = 'Run the cluster agent (HTTPS, port 25000): joins, worker certificates, health.';
  static override description =
    'What the snap runs as a service. The address comes from --bind in $SNAP_DATA/args/cluster-agent (default 0.0.0.0:25000); --bind on the command line wins. Exit codes: 0 stopped by a signal; 78 no certificates (MK_CERTS_MISSING) or the port is taken (MK_AGENT_LISTEN).';
  static override examples = [
    '<%= config.bin %> agent run',
    '<%= config.bin %> agent run --bind 10.0.0.1:25000',
  ];
  static override flags = {
    bind: Flags.string({ description: 'HOST:PORT to listen on (IPv6 in brackets)' }),
  };

  async run() {
    const { flags } = await this.parse(AgentRun);
    // The daemon's own umask, not its starter's: what it writes is never readable by others.
    process.umask(DAEMON_UMASK);
    const ctx = agentContext(resolvePaths());
    const agent = await startAgent(ctx, flags.bind === undefined ? undefined : parseBind(flags.bind));
    this.log(`cluster agent listening on ${agent.address.address}:${agent.address.port}`);
    await agent.done;
  }
}
