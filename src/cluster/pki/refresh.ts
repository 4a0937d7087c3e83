/**
 * `refresh-certs` without --check: back up the certs folder, then re-issue every non-CA
 * certificate (API server, front-proxy client, datastore peer, kubeconfigs). The CAs and the
 * service-account key stay: replacing them would cut this node off from the cluster and
 * invalidate every service-account token.
 */
import { X509Certificate } from 'node:crypto';
import { cp, mkdir, readFile } from 'node:fs/promises';
import { networkInterfaces, hostname as osHostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createLogger } from '../../lib/log.js';
import { BACKUPS_KEPT, pruneBackups } from '../../node/backups.js';
import { PRIVATE_DIR_MODE } from '../files.js';
import { usableAddresses } from '../join/addresses.js';
import { parseSubjectAltNames } from '../pki.js';
import { type CertificateExpiry, checkCertificates, requireCas } from './expiry.js';
import { certsLayout } from './layout.js';
import { type CertificateAction, ensureNodeCertificates } from './node-set.js';

const log = createLogger('cluster.pki');

export interface RefreshOptions {
  /** Default: this machine's hostname. */
  readonly hostname?: string;
  /** Default: this machine's usable addresses plus the loopback aliases the old certificate named. */
  readonly ips?: readonly string[];
  readonly now?: () => number;
}

export interface RefreshResult {
  readonly backupDir: string;
  readonly actions: CertificateAction[];
  readonly certificates: CertificateExpiry[];
}

/**
 * A loopback alias (127.0.1.2, as the local lab gives each node) is not in the interface table,
 * yet a node may be bound to it; it cannot have moved to another machine, so keep it.
 */
async function loopbackAliases(serverCertPath: string): Promise<string[]> {
  try {
    const cert = new X509Certificate(await readFile(serverCertPath));
    return parseSubjectAltNames(cert.subjectAltName)
      .filter((san) => san.startsWith('IP:127.'))
      .map((san) => san.slice(3));
  } catch {
    return [];
  }
}

function stamp(now: number): string {
  return new Date(now).toISOString().replaceAll(':', '').replace('.', '-');
}

/** `<parent>/<certs>-backup-<UTC time>`, next to the folder so later backups never nest it. */
async function backup(dir: string, now: number): Promise<string> {
  const base = join(dirname(dir), `${basename(dir)}-backup-${stamp(now)}`);
  for (let attempt = 0; ; attempt++) {
    const target = attempt === 0 ? base : `${base}-${attempt}`;
    try {
      await mkdir(target, { mode: PRIVATE_DIR_MODE });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 100) continue;
      throw error;
    }
    // copyFile keeps each file's mode, so the copied keys stay 0600.
    await cp(dir, target, {
      recursive: true,
      preserveTimestamps: true,
      filter: (source) => !basename(source).startsWith('.pki'),
    });
    return target;
  }
}

export async function refreshCertificates(dir: string, options: RefreshOptions = {}): Promise<RefreshResult> {
  const layout = certsLayout(dir);
  await requireCas(layout);
  const now = options.now ?? Date.now;
  const ips = options.ips ?? [
    ...usableAddresses(networkInterfaces()).map((a) => a.address),
    ...(await loopbackAliases(layout.leaves.server.certPath)),
  ];
  const backupDir = await backup(dir, now());
  const pruned = pruneBackups(dirname(dir), `${basename(dir)}-backup-`);
  log.info('backed up the certificates', { backupDir, pruned, kept: BACKUPS_KEPT });
  const { actions } = await ensureNodeCertificates(dir, {
    hostname: options.hostname ?? osHostname(),
    ips,
    reissue: true,
    now,
  });
  return { backupDir, actions, certificates: await checkCertificates(dir, now()) };
}
