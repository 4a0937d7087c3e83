import { Flags, type Interfaces } from '@oclif/core';
import { planRoles } from '../../cluster/roles/index.js';
import { DATASTORE_RUN_FLAGS, type DatastoreRunFlag, runDatastore } from '../../datastore/node/daemon-cli.js';
import { MicroK8sCommand } from '../../lib/command.js';

// bin/run.js starts the daemon without oclif for plain command lines (daemon-cli.ts); this
// command serves help and every other command line, from the same flag table.
type Table = typeof DATASTORE_RUN_FLAGS;
type RunFlags = {
  [K in keyof Table]: Table[K] extends { multiple: true }
    ? Interfaces.OptionFlag<string[] | undefined>
    : Interfaces.OptionFlag<string | undefined>;
};
const flag = (spec: DatastoreRunFlag) =>
  spec.multiple
    ? Flags.string({ description: spec.description, multiple: true })
    : Flags.string({ description: spec.description });

export default class DatastoreRun extends MicroK8sCommand {
  static override summary = 'Run the datastore daemon of this node (the snap runs it as a service).';
  static override description =
    'Configuration comes from --args-file (one flag per line, e.g. $SNAP_DATA/args/datastore) and from flags, which win. SIGTERM hands the node role (and leadership) over, then stops; SIGINT stops at once.';
  static override examples = [
    '<%= config.bin %> datastore run --args-file $SNAP_DATA/args/datastore',
    '<%= config.bin %> datastore run --id 1 --cluster-id lab --data-dir /tmp/n1 --peer-listen 127.0.1.1:2380 --client-listen 127.0.1.1:2379 --bootstrap 1=voter --ca-cert ca.crt --cert peer.crt --key peer.key',
  ];
  static override flags = Object.fromEntries(
    Object.entries(DATASTORE_RUN_FLAGS).map(([name, spec]) => [name, flag(spec)]),
  ) as RunFlags;

  async run(): Promise<void> {
    const { flags } = await this.parse(DatastoreRun);
    this.exit(await runDatastore(flags, { rolesPlanner: planRoles }));
  }
}
