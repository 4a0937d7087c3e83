import { Flags } from '@oclif/core';
import { planRoles } from '../../cluster/roles/index.js';
import { startDaemon } from '../../datastore/node/daemon.js';
import { MicroK8sCommand } from '../../lib/command.js';

const text = (description: string) => Flags.string({ description });

export default class DatastoreRun extends MicroK8sCommand {
  static override summary = 'Run the datastore daemon of this node (the snap runs it as a service).';
  static override description =
    'Configuration comes from --args-file (one flag per line, e.g. $SNAP_DATA/args/datastore) and from flags, which win. SIGTERM hands the node role (and leadership) over, then stops; SIGINT stops at once.';
  static override examples = [
    '<%= config.bin %> datastore run --args-file $SNAP_DATA/args/datastore',
    '<%= config.bin %> datastore run --id 1 --cluster-id lab --data-dir /tmp/n1 --peer-listen 127.0.1.1:2380 --client-listen 127.0.1.1:2379 --bootstrap 1=voter --ca-cert ca.crt --cert peer.crt --key peer.key',
  ];
  static override flags = {
    'args-file': text('file with one flag per line'),
    id: text('this node id (a positive integer)'),
    name: text('this node name'),
    'cluster-id': text('the cluster name; peers of another cluster are refused'),
    'data-dir': text('the folder of the Raft log and the database'),
    'peer-listen': text('HOST:PORT of the peer transport (the node address)'),
    peer: Flags.string({ description: 'ID=HOST:PORT[,CLIENT_URL] of another member', multiple: true }),
    bootstrap: text('initial membership of a new cluster: 1=voter,2=voter,3=standby'),
    'client-listen': text('HOST:PORT of plain etcd gRPC (loopback only)'),
    'client-unix': text('unix socket of the etcd gRPC API (for the local kube-apiserver)'),
    'client-tls-listen': text('HOST:PORT of the etcd gRPC API over TLS with client certificates'),
    'ca-cert': text('cluster CA certificate (PEM)'),
    cert: text('this node certificate (PEM)'),
    key: text('this node private key (PEM)'),
    'tick-ms': text('Raft tick in milliseconds (default 100)'),
    'election-ticks': text('ticks of an election timeout (default 10)'),
    'snapshot-entries': text('applied entries between snapshots (default 10000)'),
    'compaction-lag': text('entries kept behind a snapshot (default 1000)'),
    'quota-bytes': text('database size that raises the NOSPACE alarm (default 8 GiB)'),
    'failure-domain': text('failure domain of this node (voters are spread across them)'),
    weight: text('weight of this node (lower is preferred for voters)'),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DatastoreRun);
    const tokens = new Map<string, string[]>();
    for (const [name, value] of Object.entries(flags)) {
      if (name === 'args-file' || value === undefined) continue;
      tokens.set(name, Array.isArray(value) ? value : [String(value)]);
    }
    const daemon = await startDaemon(tokens, flags['args-file'], { rolesPlanner: planRoles });
    const code = await daemon.done;
    this.exit(code);
  }
}
