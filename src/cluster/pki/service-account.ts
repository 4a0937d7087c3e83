/**
 * The service-account key pair: the API server signs service-account tokens with
 * serviceaccount.key and verifies them with serviceaccount.pub. It is never rotated here:
 * a new key would invalidate every token in the cluster (and, in HA, every node must hold the
 * same key). RSA 2048 rather than EC, because external token verifiers (OIDC consumers) all
 * accept RS256 while ES256 support varies.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { chmod, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MicroK8sError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { writeFileAtomic } from '../../node/atomic-write.js';
import { createPrivateFile, exists, fileMode, PRIVATE_MODE, PUBLIC_MODE, withScratch } from '../files.js';
import { openssl } from './openssl.js';

const log = createLogger('cluster.pki');

export type ServiceAccountAction = 'created' | 'kept' | 'repaired';

function publicPem(key: KeyObject): string {
  return createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
}

async function readPrivateKey(path: string): Promise<KeyObject> {
  try {
    return createPrivateKey(await readFile(path));
  } catch (error) {
    // Refuse rather than replace: replacing it would silently invalidate every token.
    throw new MicroK8sError('MK_TLS', `${path} is not a readable private key`, {}, { cause: error });
  }
}

export async function ensureServiceAccountKeys(files: {
  keyPath: string;
  publicKeyPath: string;
}): Promise<ServiceAccountAction> {
  if (await exists(files.keyPath)) {
    const key = await readPrivateKey(files.keyPath);
    if ((await fileMode(files.keyPath)) & 0o077) await chmod(files.keyPath, PRIVATE_MODE);
    const wanted = publicPem(key);
    const current = (await exists(files.publicKeyPath)) ? await readFile(files.publicKeyPath, 'utf8') : '';
    if (current === wanted) return 'kept';
    // The public half follows from the private one; rewriting it loses nothing.
    await writeFileAtomic(files.publicKeyPath, wanted, { mode: PUBLIC_MODE });
    log.warn('rewrote the service-account public key from its private key', { path: files.publicKeyPath });
    return 'repaired';
  }
  await withScratch(dirname(files.keyPath), async (scratch) => {
    const keyTmp = join(scratch, 'serviceaccount.key');
    await createPrivateFile(keyTmp);
    await openssl(
      ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyTmp],
      'create the service-account key',
    );
    const key = await readPrivateKey(keyTmp);
    // The key goes first: a crash before the public key is written is repaired on the next run.
    await rename(keyTmp, files.keyPath);
    await writeFileAtomic(files.publicKeyPath, publicPem(key), { mode: PUBLIC_MODE });
  });
  log.info('created the service-account key pair', { key: files.keyPath });
  return 'created';
}
