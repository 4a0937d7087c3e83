import { Flags } from '@oclif/core';
import { addonState, statusAddons } from '../addons/operations.js';
import { readClusterStatus, STATUS_LIMITS } from '../cluster/status.js';
import { formatStatusPretty, formatStatusYaml } from '../cluster/status-format.js';
import { MicroK8sCommand } from '../lib/command.js';
import { isMicroK8sError } from '../lib/errors.js';
import { resolvePaths } from '../lib/paths.js';
import { formatRefreshPolicy, readRefreshPolicy } from '../lifecycle/refresh-policy.js';

export default class Status extends MicroK8sCommand {
  static override summary = 'Show whether this node runs, the datastore roles, high availability and addons.';
  static override description =
    "Reads this node's datastore through its admin socket. Exit codes: 0 running; 3 not running (MK_NOT_RUNNING), or no leader after --wait-ready (MK_NO_LEADER).";
  static override examples = [
    '<%= config.bin %> status',
    '<%= config.bin %> status --wait-ready --timeout 120',
    '<%= config.bin %> status --format yaml',
    '<%= config.bin %> status --format json',
    '<%= config.bin %> status -a dns',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    format: Flags.string({
      description: 'output format (json is the same as --json)',
      options: ['pretty', 'yaml', 'json'],
      default: 'pretty',
    }),
    'wait-ready': Flags.boolean({ description: 'wait until the datastore answers and knows a leader' }),
    timeout: Flags.integer({
      description: 'with --wait-ready, give up after this many seconds',
      min: STATUS_LIMITS.timeout.min,
      max: STATUS_LIMITS.timeout.max,
      default: STATUS_LIMITS.defaultTimeoutS,
    }),
    addon: Flags.string({
      char: 'a',
      description: 'print only whether this addon is enabled or disabled',
    }),
    'datastore-dir': Flags.string({
      description:
        "the datastore's data folder (default: --data-dir of $SNAP_DATA/args/datastore, else $SNAP_COMMON/datastore)",
    }),
  };

  async run() {
    const { flags } = await this.parse(Status);
    const paths = resolvePaths();
    if (flags.addon !== undefined) {
      const state = await addonState(paths, flags.addon);
      this.log(state);
      return { addon: flags.addon, state };
    }
    const refresh = await readRefreshPolicy(paths);
    const cluster = await readClusterStatus({
      paths,
      waitReady: flags['wait-ready'],
      timeoutS: flags.timeout,
      ...(flags['datastore-dir'] ? { datastoreDir: flags['datastore-dir'] } : {}),
    }).catch((error: unknown) => {
      // In a snap, its channel, revision and hold matter on a stopped node too (after a refresh);
      // outside one there is nothing to add to the error.
      if (
        refresh.snap &&
        isMicroK8sError(error, 'MK_NOT_RUNNING') &&
        flags.format === 'pretty' &&
        !this.jsonEnabled()
      )
        this.log(formatRefreshPolicy(refresh).join('\n'));
      throw error;
    });
    // A worker lists no addons; a node whose Kubernetes does not answer says 'unknown'.
    const addons = 'role' in cluster || !cluster.kubernetes ? undefined : await statusAddons(paths);
    const status = {
      ...cluster,
      ...(addons
        ? { addons: { available: addons.available, enabled: addons.enabled, disabled: addons.disabled } }
        : {}),
      refresh,
    };
    const lines = [
      ...(addons?.lines ?? ['addons:', '  unknown (Kubernetes does not run on this node)']),
      ...formatRefreshPolicy(refresh),
    ];
    this.log(flags.format === 'yaml' ? formatStatusYaml(status) : formatStatusPretty(status, lines));
    return status;
  }
}
