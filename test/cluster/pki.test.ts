import { X509Certificate } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  certificateFingerprint,
  certificateInfo,
  ensureClusterCa,
  issueCertificate,
  parseSubjectAltNames,
} from '../../src/cluster/pki.js';
import { nodeIdFromCertificate, peerCertificateNames } from '../../src/datastore/transport/identity.js';
import { isMicroK8sError } from '../../src/lib/errors.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

let dir = '';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mk-pki-'));
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

async function x509(path: string): Promise<X509Certificate> {
  return new X509Certificate(await readFile(path));
}

test('creates a CA with a 0600 key, valid about ten years, and reuses it', async () => {
  const caDir = join(dir, 'ca');
  const ca = await ensureClusterCa(caDir, { commonName: 'test-cluster-ca' });
  assert.is(await mode(ca.keyPath), 0o600);
  const cert = await x509(ca.certPath);
  assert.ok(cert.ca, 'CA:TRUE');
  assert.is(cert.subject, 'CN=test-cluster-ca');
  assert.ok(cert.checkIssued(cert), 'self-signed');
  const years = (new Date(cert.validTo).getTime() - Date.now()) / (365.25 * 24 * 3600 * 1000);
  assert.ok(years > 9.9 && years < 10.1, `about ten years, got ${years}`);

  const before = await certificateFingerprint(ca.certPath);
  const keyBefore = await readFile(ca.keyPath);
  const again = await ensureClusterCa(caDir);
  assert.equal(again, ca);
  assert.is(await certificateFingerprint(ca.certPath), before, 'the existing CA is kept');
  assert.ok(keyBefore.equals(await readFile(ca.keyPath)), 'the existing key is kept');
  const leftovers = (await readdir(caDir)).filter((name) => name.startsWith('.'));
  assert.equal(leftovers, [], 'no scratch files left behind');

  await chmod(ca.keyPath, 0o644);
  await ensureClusterCa(caDir);
  assert.is(await mode(ca.keyPath), 0o600, 'a loosened key mode is tightened on reuse');
});

test('a lone CA key is never overwritten', async () => {
  const caDir = join(dir, 'lone');
  const ca = await ensureClusterCa(caDir);
  await rm(ca.certPath);
  const key = await readFile(ca.keyPath);
  try {
    await ensureClusterCa(caDir);
    assert.unreachable('should refuse');
  } catch (error) {
    assert.ok(isMicroK8sError(error, 'MK_TLS'), String(error));
  }
  assert.ok(key.equals(await readFile(ca.keyPath)));
});

test('issues a peer certificate with both EKUs, the requested SANs and a 0600 key', async () => {
  const ca = await ensureClusterCa(join(dir, 'ca'));
  const started = performance.now();
  const issued = await issueCertificate(ca, join(dir, 'certs'), 'peer-2', {
    ...peerCertificateNames(2),
    ips: ['127.0.1.2', '::1'],
    dnsNames: [...peerCertificateNames(2).dnsNames, 'node2.example.test'],
    usage: 'peer',
  });
  console.log(`  issuing a peer certificate took ${(performance.now() - started).toFixed(0)} ms`);
  assert.is(await mode(issued.keyPath), 0o600);
  const cert = await x509(issued.certPath);
  const caCert = await x509(ca.certPath);
  assert.ok(cert.checkIssued(caCert) && cert.verify(caCert.publicKey), 'signed by the CA');
  assert.not.ok(cert.ca);
  assert.equal([...(cert.keyUsage ?? [])].sort(), [SERVER_AUTH, CLIENT_AUTH]);
  assert.is(cert.checkIP('127.0.1.2'), '127.0.1.2');
  assert.is(cert.checkHost('node2.example.test'), 'node2.example.test');
  assert.is(nodeIdFromCertificate(cert), 2);

  const info = await certificateInfo(issued.certPath);
  assert.is(info.subject, 'CN=node-2');
  assert.equal(info.sans, [
    'DNS:node-2.peer.microk8s',
    'DNS:node2.example.test',
    'IP:127.0.1.2',
    'IP:0:0:0:0:0:0:0:1',
  ]);
  assert.ok(info.notAfter.getTime() > Date.now() + 9 * 365 * 24 * 3600 * 1000);
  const leftovers = (await readdir(join(dir, 'certs'))).filter((name) => name.startsWith('.'));
  assert.equal(leftovers, [], 'CSR and extension files are removed');
});

test('server and client certificates carry one EKU each and honour days', async () => {
  const ca = await ensureClusterCa(join(dir, 'ca'));
  const server = await issueCertificate(ca, join(dir, 'certs'), 'server', {
    commonName: 'apiserver',
    dnsNames: ['localhost'],
    usage: 'server',
    days: 30,
  });
  const client = await issueCertificate(ca, join(dir, 'certs'), 'client', {
    commonName: 'admin',
    usage: 'client',
  });
  assert.equal((await x509(server.certPath)).keyUsage, [SERVER_AUTH]);
  assert.equal((await x509(client.certPath)).keyUsage, [CLIENT_AUTH]);
  assert.equal((await certificateInfo(client.certPath)).sans, []);
  const days =
    ((await certificateInfo(server.certPath)).notAfter.getTime() - Date.now()) / (24 * 3600 * 1000);
  assert.ok(days > 29 && days < 31, `30 days, got ${days}`);
});

test('a certificate never outlives its CA', async () => {
  const ca = await ensureClusterCa(join(dir, 'short-ca'), { days: 10 });
  const leaf = await issueCertificate(ca, join(dir, 'short-certs'), 'leaf', {
    commonName: 'leaf',
    usage: 'peer',
    days: 365,
  });
  const caInfo = await certificateInfo(ca.certPath);
  const leafInfo = await certificateInfo(leaf.certPath);
  assert.ok(leafInfo.notAfter.getTime() <= caInfo.notAfter.getTime(), 'clamped to the CA');
});

test('the fingerprint is the SHA-256 of the DER, stable across calls', async () => {
  const ca = await ensureClusterCa(join(dir, 'ca'));
  const a = await certificateFingerprint(ca.certPath);
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.is(await certificateFingerprint(ca.certPath), a);
  const colons = (await x509(ca.certPath)).fingerprint256.replaceAll(':', '').toLowerCase();
  assert.is(a, colons);
});

test('invalid names and addresses are refused before openssl runs', async () => {
  const ca = await ensureClusterCa(join(dir, 'ca'));
  const cases: [string, Parameters<typeof issueCertificate>[3]][] = [
    ['../escape', { commonName: 'x', usage: 'peer' }],
    ['ca', { commonName: 'x', usage: 'peer' }],
    ['ok', { commonName: 'x/CN=admin', usage: 'peer' }],
    ['ok', { commonName: 'x\nextendedKeyUsage = serverAuth', usage: 'peer' }],
    ['ok', { commonName: 'x', ips: ['300.1.1.1'], usage: 'peer' }],
    ['ok', { commonName: 'x', dnsNames: ['a,IP:1.2.3.4'], usage: 'peer' }],
  ];
  for (const [name, options] of cases) {
    try {
      await issueCertificate(ca, join(dir, 'bad'), name, options);
      assert.unreachable(`${name} ${JSON.stringify(options)} should be refused`);
    } catch (error) {
      assert.ok(isMicroK8sError(error, 'MK_INVALID_ARGUMENT'), String(error));
    }
  }
});

test('a corrupt CA is reported as MK_TLS, not replaced', async () => {
  const caDir = join(dir, 'corrupt');
  const ca = await ensureClusterCa(caDir);
  await writeFile(ca.certPath, 'not a certificate');
  try {
    await ensureClusterCa(caDir);
    assert.unreachable('should refuse');
  } catch (error) {
    assert.ok(isMicroK8sError(error, 'MK_TLS'), String(error));
  }
  assert.is(await readFile(ca.certPath, 'utf8'), 'not a certificate');
});

test('SAN text parsing handles quoted values', () => {
  assert.equal(parseSubjectAltNames('DNS:a.b, IP Address:127.0.0.1'), ['DNS:a.b', 'IP:127.0.0.1']);
  assert.equal(parseSubjectAltNames('DNS:"x, DNS:y"'), ['DNS:x, DNS:y']);
  assert.equal(parseSubjectAltNames(undefined), []);
});

test.run();
