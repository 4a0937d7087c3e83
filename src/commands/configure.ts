import { Args, Flags } from '@oclif/core';
import { requestConfigure } from '../cluster/agent/configure.js';
import { configureExitCode, formatConfigure, parseSetFlags } from '../cluster/agent/output.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';
import { SERVICE_NAMES } from '../services/catalog.js';

export default class Configure extends MicroK8sCommand {
  static override summary =
    "Change a service's arguments on every control-plane node (or this one) and restart it.";
  static override description = [
    "The node's own cluster agent applies the change to its args file ($SNAP_DATA/args/SERVICE), then passes it to every other control-plane node in turn.",
    'With --restart each node waits for its service to serve again before the next is changed; the first that does not come back stops the roll.',
    "Needs this node's member certificate (a control-plane node). Exit codes: 0 every node changed; 1 some node failed (see the results);",
    '4 an unknown service (MK_SERVICE_UNKNOWN) or a bad flag (MK_SERVICE_BAD_FLAG), or no member certificate (MK_AGENT_UNAUTHORIZED); 3 the agent is unreachable.',
  ].join(' ');
  static override examples = [
    '<%= config.bin %> configure datastore --set snapshot-entries=20000 --restart',
    '<%= config.bin %> configure kubelet --remove some-flag --local',
  ];
  static override enableJsonFlag = true;
  static override args = {
    service: Args.string({ description: 'the service', options: [...SERVICE_NAMES], required: true }),
  };
  static override flags = {
    set: Flags.string({ description: 'FLAG=VALUE to set (repeatable)', multiple: true }),
    remove: Flags.string({ description: 'FLAG to remove (repeatable)', multiple: true }),
    restart: Flags.boolean({ description: 'restart the service after the change, node by node' }),
    local: Flags.boolean({ description: 'change this node only' }),
  };

  async run() {
    const { args, flags } = await this.parse(Configure);
    const response = await requestConfigure(resolvePaths(), {
      service: args.service,
      set: parseSetFlags(flags.set ?? []),
      remove: (flags.remove ?? []).map((f) => f.replace(/^--/, '')),
      restart: flags.restart,
      propagate: !flags.local,
    });
    this.logLines(formatConfigure(response));
    // Exit 1 when a node failed, with the same output (in JSON, the response is printed).
    process.exitCode = configureExitCode(response);
    return response;
  }
}
