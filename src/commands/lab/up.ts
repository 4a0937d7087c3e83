import { Flags } from '@oclif/core';
import { formatLabTable, formatLabUpHint } from '../../lab/format.js';
import { labUp } from '../../lab/formation.js';
import {
  formatKubeLabStatus,
  formatKubeLabUpHint,
  kubeLabStatus,
  kubeLabUp,
} from '../../lab/kube/cluster.js';
import { type LabFormation, readLab } from '../../lab/spec.js';
import { labDirFlag, MicroK8sCommand } from '../../lib/command.js';

export default class LabUp extends MicroK8sCommand {
  static override summary =
    'Start a local HA Kubernetes lab: N whole nodes, each in its own network namespace, formed with add-node and join (--formation join|seed: the datastore alone, on loopback addresses).';
  static override examples = [
    '<%= config.bin %> lab up',
    '<%= config.bin %> lab up --nodes 5 --workers 1',
    '<%= config.bin %> lab up --formation seed --nodes 5 --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    nodes: Flags.integer({ description: 'number of nodes', default: 3, min: 1, max: 9 }),
    workers: Flags.integer({
      description: 'Kubernetes lab: worker-only nodes (join --worker) besides the control plane',
      default: 0,
      min: 0,
      max: 4,
    }),
    dir: labDirFlag,
    'base-address': Flags.string({
      description: 'address of the first node; the others count up',
      default: '127.0.1.1',
    }),
    formation: Flags.string({
      description:
        'kube: whole Kubernetes nodes, each in its own network namespace (root); the datastore alone on loopback: join (each node set up alone and joined to node 1 with add-node/join, TLS clients) or seed (all nodes from one configuration, plain TCP clients)',
      options: ['kube', 'join', 'seed'],
      default: 'kube',
    }),
  };

  async run() {
    const { flags } = await this.parse(LabUp);
    const tty = process.stderr.isTTY && !this.jsonEnabled();
    if (flags.formation === 'kube') {
      const spec = await kubeLabUp({
        dir: flags.dir,
        nodes: flags.nodes,
        workers: flags.workers,
        // Progress on stderr, a line each: the first start of a node takes a while.
        onProgress: (line) => {
          if (!this.jsonEnabled()) process.stderr.write(`  ${line}\n`);
        },
      });
      const status = await kubeLabStatus(flags.dir);
      this.log(formatKubeLabStatus(status));
      this.log(formatKubeLabUpHint(spec));
      return { dir: flags.dir, formation: 'kube', ...status };
    }
    const nodes = await labUp({
      nodes: flags.nodes,
      dir: flags.dir,
      baseAddress: flags['base-address'],
      formation: flags.formation as LabFormation,
      onProgress: (line) => {
        if (tty) process.stderr.write(`\r\x1b[2K  waiting: ${line}`);
      },
    });
    if (tty) process.stderr.write('\r\x1b[2K');
    this.log(formatLabTable(nodes));
    this.log(formatLabUpHint(nodes, readLab(flags.dir).clientTls));
    return { dir: flags.dir, nodes };
  }
}
