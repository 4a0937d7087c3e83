import { Flags } from '@oclif/core';
import { agentContext } from '../cluster/agent/context.js';
import { renewWorkerCertificates } from '../cluster/agent/renew.js';
import type { CertificateExpiry } from '../cluster/pki/expiry.js';
import { checkCertificates } from '../cluster/pki/expiry.js';
import { refreshCertificates } from '../cluster/pki/refresh.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';
import { currentNodeRecord } from '../node/record.js';

export default class RefreshCerts extends MicroK8sCommand {
  static override summary = "Check or regenerate this node's certificates (the CAs are kept).";
  static override description =
    'Without --check, the certs folder is first copied to a timestamped backup next to it, then the API server, front-proxy client, datastore peer and kubeconfig certificates are issued again. Restart the services to load them. On a worker, the kubelet and kube-proxy certificates are renewed at a cluster agent (new keys, the current kubelet certificate as proof) and both services restarted.';
  static override examples = [
    '<%= config.bin %> refresh-certs --check',
    '<%= config.bin %> refresh-certs',
    '<%= config.bin %> refresh-certs --check --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    check: Flags.boolean({
      description: 'only list every certificate and its days to expiry; change nothing',
    }),
  };

  private table(rows: readonly CertificateExpiry[]): void {
    const width = Math.max(...rows.map((row) => row.name.length));
    for (const row of rows) {
      const state = row.problem ?? `${row.daysLeft} days left (until ${row.notAfter?.slice(0, 10)})`;
      this.log(`  ${row.name.padEnd(width)}  ${state}`);
    }
  }

  async run() {
    const { flags } = await this.parse(RefreshCerts);
    const paths = resolvePaths();
    const certs = paths.certs;
    if (!flags.check && currentNodeRecord(paths).kind === 'worker') {
      const renewed = await renewWorkerCertificates(agentContext(paths), { force: true, restart: true });
      this.log(`Renewed ${renewed.renewed.join(', ')} at the cluster agent ${renewed.agent}.`);
      return renewed;
    }
    if (flags.check) {
      const certificates = await checkCertificates(certs);
      this.log(`Certificates in ${certs}:`);
      this.table(certificates);
      return { certificates };
    }
    const result = await refreshCertificates(certs);
    this.log(`Backed up the old certificates to ${result.backupDir}`);
    this.log('Issued again:');
    this.table(result.certificates.filter((row) => row.kind !== 'ca'));
    this.log('The CAs were kept. Restart the services to load the new certificates.');
    return result;
  }
}
