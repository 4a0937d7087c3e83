import { Flags } from '@oclif/core';
import { formatFindings, inspectNode } from '../cluster/inspect/report.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';

export default class Inspect extends MicroK8sCommand {
  static override summary =
    'Check this node and write a report tarball (services, args, logs, datastore, certificates, host).';
  static override description =
    'Prints each problem found with a hint, and writes inspection-report-<UTC>.tar.gz (report.txt, the args files, the supervisor report and the end of every log; no keys). Exit code 0 even when problems are found: the report is the result.';
  static override examples = ['<%= config.bin %> inspect', '<%= config.bin %> inspect --output /tmp'];
  static override enableJsonFlag = true;
  static override flags = {
    output: Flags.string({ description: 'folder to write the tarball to', default: '.' }),
  };

  async run() {
    const { flags } = await this.parse(Inspect);
    const result = await inspectNode(resolvePaths(), flags.output);
    this.log(formatFindings(result.findings).trimEnd());
    this.log(`\nreport written to ${result.tarball}`);
    return result;
  }
}
