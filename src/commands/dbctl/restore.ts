import { Args } from '@oclif/core';
import { MicroK8sCommand } from '../../lib/command.js';
import { resolvePaths } from '../../lib/paths.js';
import { nodeEtcdSocket } from '../../lifecycle/datastore-socket.js';
import { restoreKeyspace } from '../../lifecycle/restore.js';

export default class DbctlRestore extends MicroK8sCommand {
  static override summary = "Make the datastore's keyspace what a `dbctl backup` archive holds.";
  static override description =
    'The archive is checked first (format, SHA-256): a damaged one is refused and nothing changes. Keys not in the archive are deleted, the others put; they get new revisions. Never rolled back: the highest member id issued, and the certificate records (a revoked certificate stays revoked).';
  static override examples = ['<%= config.bin %> dbctl restore backup.json'];
  static override enableJsonFlag = true;
  static override args = { file: Args.string({ required: true, description: 'the archive' }) };

  async run() {
    const { args } = await this.parse(DbctlRestore);
    const result = await restoreKeyspace(nodeEtcdSocket(resolvePaths()), args.file);
    this.log(
      `restored ${result.keys} keys (${result.put} written, ${result.deleted} others deleted), sha256 ${result.sha256}` +
        (result.matches ? " (the archive's)" : " (not the archive's: see below)"),
    );
    for (const k of result.kept) this.log(`kept ${k.key}: ${k.why}`);
    if (!result.matches && result.kept.length === 0) this.log('something wrote to the datastore meanwhile');
    return result;
  }
}
