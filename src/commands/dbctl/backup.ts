import { Flags } from '@oclif/core';
import { MicroK8sCommand } from '../../lib/command.js';
import { resolvePaths } from '../../lib/paths.js';
import { backupKeyspace } from '../../lifecycle/backup.js';
import { nodeEtcdSocket } from '../../lifecycle/datastore-socket.js';

export default class DbctlBackup extends MicroK8sCommand {
  static override summary = "Back up the datastore's keyspace: every key at one revision, checksummed.";
  static override examples = [
    '<%= config.bin %> dbctl backup',
    '<%= config.bin %> dbctl backup -o backup.json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    output: Flags.string({ char: 'o', description: 'the archive to write (default: $SNAP_COMMON/backups/)' }),
  };

  async run() {
    const { flags } = await this.parse(DbctlBackup);
    const paths = resolvePaths();
    const backup = await backupKeyspace(paths, nodeEtcdSocket(paths), 'backup', flags.output);
    this.log(
      `${backup.file}: ${backup.keys} keys at revision ${backup.revision}, sha256 ${backup.sha256}` +
        (backup.leased > 0 ? ` (${backup.leased} keys on a lease left out)` : ''),
    );
    return backup;
  }
}
