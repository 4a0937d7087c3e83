// The node certificate set with the real openssl: names, modes, chains, idempotence, re-issue.
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';

// The logger reads MICROK8S_LOG_FILE when a module creates it, so it is set before the PKI
// modules are imported (dynamically, below): the test then reads every line that was logged.
const dir = await mkdtemp(join(tmpdir(), 'mk-pki-set-'));
const logFile = join(dir, 'log.jsonl');
process.env.MICROK8S_LOG_FILE = logFile;
process.env.MICROK8S_LOG_LEVEL = 'debug';
const { ensureNodeCertificates } = await import('../../src/cluster/pki/node-set.js');
const { certsLayout, KUBECONFIG_NAMES } = await import('../../src/cluster/pki/layout.js');
const { nodeIdFromCertificate } = await import('../../src/datastore/transport/identity.js');
const { ensureClusterCa, issueCertificate } = await import('../../src/cluster/pki.js');
const { isMicroK8sError } = await import('../../src/lib/errors.js');

const certs = join(dir, 'certs');
const layout = certsLayout(certs);
const HOST = 'node-a';
const IPS = ['10.0.0.5', 'fd00::5'];

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function x509(path: string): Promise<X509Certificate> {
  return new X509Certificate(await readFile(path));
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

interface Kubeconfig {
  clusters: { name: string; cluster: { server: string; 'certificate-authority-data': string } }[];
  users: { name: string; user: { 'client-certificate-data': string; 'client-key-data': string } }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  'current-context': string;
}

async function kubeconfig(name: string) {
  const doc = parse(await readFile(join(layout.kubeconfigDir, `${name}.config`), 'utf8')) as Kubeconfig;
  const context = doc.contexts.find((c) => c.name === doc['current-context'])!.context;
  const cluster = doc.clusters.find((c) => c.name === context.cluster)!.cluster;
  const user = doc.users.find((u) => u.name === context.user)!.user;
  const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
  return {
    server: cluster.server,
    ca: new X509Certificate(decode(cluster['certificate-authority-data'])),
    cert: new X509Certificate(decode(user['client-certificate-data'])),
    keyPem: decode(user['client-key-data']),
  };
}

/** sha256 of every file under the certs folder, by relative path. */
async function snapshot(root = certs): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[path.slice(root.length + 1)] = createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
  }
  return out;
}

function changed(before: Record<string, string>, after: Record<string, string>): string[] {
  return Object.keys({ ...before, ...after })
    .filter((k) => before[k] !== after[k])
    .sort();
}

test('creates the full set; keys and kubeconfigs are 0600', async () => {
  const started = performance.now();
  const result = await ensureNodeCertificates(certs, { hostname: 'Node-A', ips: IPS, nodeId: 3 });
  console.log(`  creating a node's certificate set took ${(performance.now() - started).toFixed(0)} ms`);
  assert.ok(
    result.actions.every((a) => a.action === 'created'),
    JSON.stringify(result.actions),
  );
  assert.equal(
    result.actions.map((a) => a.name).sort(),
    [
      'apiserver-kubelet-client',
      'ca',
      'datastore-client',
      'front-proxy-ca',
      'front-proxy-client',
      ...KUBECONFIG_NAMES.map((n) => `kubeconfig/${n}`),
      'peer',
      'server',
      'serviceaccount',
    ].sort(),
  );
  const privateFiles = [
    layout.ca.keyPath,
    layout.frontProxyCa.keyPath,
    ...Object.values(layout.leaves).map((pair) => pair.keyPath),
    layout.serviceAccount.keyPath,
    ...Object.values(layout.kubeconfigs),
  ];
  for (const path of privateFiles) assert.is(await mode(path), 0o600, path);
  assert.is((await mode(certs)) & 0o077, 0, 'the certs folder is private');
  const leftovers = (await readdir(certs, { recursive: true })).filter((name) => /(^|\/)\.|tmp/.test(name));
  assert.equal(leftovers, [], 'no scratch, temporary or lock files left behind');
});

test('the API server certificate names the hostname, every node IP and the service names', async () => {
  const server = await x509(layout.leaves.server.certPath);
  const ca = await x509(layout.ca.certPath);
  assert.ok(server.verify(ca.publicKey), 'signed by the cluster CA');
  assert.is(ca.subject, 'CN=microk8s-cluster-ca');
  const years = (ca.validToDate.getTime() - Date.now()) / (365.25 * 24 * 3600 * 1000);
  assert.ok(years > 9.9 && years < 10.1, `the CA lives ten years, got ${years}`);
  const names = [
    HOST,
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    'kubernetes.default.svc.cluster',
    'kubernetes.default.svc.cluster.local',
  ];
  for (const name of names) assert.is(server.checkHost(name, { wildcards: false }), name, name);
  for (const ip of ['10.0.0.5', 'fd00::5', '127.0.0.1', '10.152.183.1']) assert.ok(server.checkIP(ip), ip);
  assert.is(server.checkIP('10.0.0.6'), undefined);
  assert.equal(server.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'serverAuth');
  assert.ok(server.checkPrivateKey(createPrivateKey(await readFile(layout.leaves.server.keyPath))));
});

test('front-proxy client chains to the front-proxy CA; the peer certificate carries the node id', async () => {
  const frontCa = await x509(layout.frontProxyCa.certPath);
  const client = await x509(layout.leaves['front-proxy-client'].certPath);
  assert.ok(frontCa.ca);
  assert.ok(client.verify(frontCa.publicKey), 'signed by the front-proxy CA');
  assert.not.ok(client.verify((await x509(layout.ca.certPath)).publicKey), 'not by the cluster CA');
  assert.is(client.subject, 'CN=front-proxy-client');
  const peer = await x509(layout.leaves.peer.certPath);
  assert.is(nodeIdFromCertificate(peer), 3);
  assert.ok(peer.checkIP('10.0.0.5') && peer.checkIP('127.0.0.1'));
  assert.ok(peer.verify((await x509(layout.ca.certPath)).publicKey));
});

test('the service-account public key belongs to the private key', async () => {
  const key = createPrivateKey(await readFile(layout.serviceAccount.keyPath));
  const pub = createPublicKey(await readFile(layout.serviceAccount.publicKeyPath));
  assert.is(key.asymmetricKeyType, 'rsa');
  const spki = (k: ReturnType<typeof createPublicKey>) => k.export({ type: 'spki', format: 'der' });
  assert.ok(spki(createPublicKey(key)).equals(spki(pub)));
});

test('every kubeconfig parses, points at the local API server and chains to the CA', async () => {
  const ca = await x509(layout.ca.certPath);
  const expected: Record<string, string> = {
    admin: 'O=system:masters\nCN=admin',
    'controller-manager': 'CN=system:kube-controller-manager',
    scheduler: 'CN=system:kube-scheduler',
    kubelet: `O=system:nodes\nCN=system:node:${HOST}`,
    proxy: 'CN=system:kube-proxy',
  };
  for (const name of KUBECONFIG_NAMES) {
    const config = await kubeconfig(name);
    assert.is(config.server, 'https://127.0.0.1:16443', name);
    assert.ok(config.ca.raw.equals(ca.raw), `${name} embeds the cluster CA`);
    assert.ok(config.cert.verify(ca.publicKey), `${name} client certificate chains to the CA`);
    assert.is(config.cert.subject, expected[name], name);
    assert.equal(config.cert.keyUsage, ['1.3.6.1.5.5.7.3.2'], `${name} is clientAuth`);
    assert.ok(config.cert.checkPrivateKey(createPrivateKey(config.keyPem)), `${name} key matches`);
  }
  assert.not.ok(
    existsSync(join(layout.kubeconfigDir, 'client.crt')),
    'client pairs live only in kubeconfigs',
  );
});

test('idempotent: a second run keeps every file byte for byte', async () => {
  const before = await snapshot();
  const result = await ensureNodeCertificates(certs, { hostname: HOST, ips: [...IPS].reverse() });
  assert.ok(
    result.actions.every((a) => a.action === 'kept'),
    JSON.stringify(result.actions),
  );
  assert.equal(changed(before, await snapshot()), []);
  assert.is(nodeIdFromCertificate(await x509(layout.leaves.peer.certPath)), 3, 'the node id is remembered');
});

test('a new IP re-issues exactly the certificates that name addresses', async () => {
  const before = await snapshot();
  const result = await ensureNodeCertificates(certs, { hostname: HOST, ips: ['10.0.0.6', 'fd00::5'] });
  const reissued = result.actions.filter((a) => a.action !== 'kept');
  assert.equal(
    reissued.map((a) => [a.name, a.action, a.reason]),
    [
      ['server', 'reissued', 'the names or addresses changed'],
      ['peer', 'reissued', 'the names or addresses changed'],
    ],
  );
  assert.equal(changed(before, await snapshot()), ['peer.crt', 'peer.key', 'server.crt', 'server.key']);
  const server = await x509(layout.leaves.server.certPath);
  assert.ok(server.checkIP('10.0.0.6'));
  assert.is(server.checkIP('10.0.0.5'), undefined, 'the old address is gone');
  assert.ok(server.verify((await x509(layout.ca.certPath)).publicKey));
  assert.is(await mode(layout.leaves.server.keyPath), 0o600);
});

test('a new hostname re-issues the server certificate and the kubelet kubeconfig', async () => {
  const result = await ensureNodeCertificates(certs, { hostname: 'node-b', ips: ['10.0.0.6', 'fd00::5'] });
  const reissued = result.actions.filter((a) => a.action !== 'kept').map((a) => a.name);
  assert.equal(reissued, ['server', 'kubeconfig/kubelet']);
  assert.is((await kubeconfig('kubelet')).cert.subject, 'O=system:nodes\nCN=system:node:node-b');
  assert.ok((await x509(layout.leaves.server.certPath)).checkHost('node-b'));
});

test('a certificate from another CA, a mismatched key or a broken kubeconfig is re-issued', async () => {
  const other = await ensureClusterCa(join(dir, 'other-ca'));
  const stranger = await issueCertificate(other, join(dir, 'other'), 'server', {
    commonName: 'kube-apiserver',
    usage: 'server',
  });
  await writeFile(layout.leaves.server.certPath, await readFile(stranger.certPath));
  await writeFile(layout.leaves.server.keyPath, await readFile(stranger.keyPath));
  const peerKey = await readFile(layout.leaves.peer.keyPath);
  await writeFile(layout.leaves['front-proxy-client'].keyPath, peerKey);
  await writeFile(layout.kubeconfigs.proxy, 'not: [a kubeconfig');
  const result = await ensureNodeCertificates(certs, { hostname: 'node-b', ips: ['10.0.0.6', 'fd00::5'] });
  const reissued = Object.fromEntries(
    result.actions.filter((a) => a.action !== 'kept').map((a) => [a.name, a.reason]),
  );
  assert.equal(reissued, {
    server: 'not signed by the current CA',
    'front-proxy-client': 'the private key does not belong to the certificate',
    'kubeconfig/proxy': 'unreadable',
  });
  const ca = await x509(layout.ca.certPath);
  assert.ok((await x509(layout.leaves.server.certPath)).verify(ca.publicKey));
  assert.ok((await kubeconfig('proxy')).cert.verify(ca.publicKey));
});

test('reissue: every non-CA certificate is issued again; CAs and the service-account key stay', async () => {
  const before = await snapshot();
  const result = await ensureNodeCertificates(certs, {
    hostname: 'node-b',
    ips: ['10.0.0.6'],
    reissue: true,
  });
  const byName = Object.fromEntries(result.actions.map((a) => [a.name, a.action]));
  for (const name of ['ca', 'front-proxy-ca', 'serviceaccount']) assert.is(byName[name], 'kept', name);
  for (const name of [
    'server',
    'front-proxy-client',
    'peer',
    'apiserver-kubelet-client',
    ...KUBECONFIG_NAMES.map((n) => `kubeconfig/${n}`),
  ]) {
    assert.is(byName[name], 'reissued', name);
  }
  const diff = changed(before, await snapshot());
  for (const kept of ['ca.crt', 'ca.key', 'front-proxy-ca.crt', 'front-proxy-ca.key', 'serviceaccount.key']) {
    assert.not.ok(diff.includes(kept), kept);
  }
});

test('bad hostnames and addresses are refused before anything is written', async () => {
  const fresh = join(dir, 'never');
  const cases: [string, string[]][] = [
    ['under_score', []],
    ['', []],
    ['a'.repeat(53), []],
    ['ok', ['300.1.1.1']],
    ['ok', ['10.0.0.1/24']],
  ];
  for (const [hostname, ips] of cases) {
    try {
      await ensureNodeCertificates(fresh, { hostname, ips });
      assert.unreachable(`${hostname} ${ips} should be refused`);
    } catch (error) {
      assert.ok(isMicroK8sError(error, 'MK_INVALID_ARGUMENT'), String(error));
    }
  }
  assert.not.ok(existsSync(fresh));
});

test('two concurrent runs on one folder leave a consistent set', async () => {
  const shared = join(dir, 'concurrent');
  await Promise.all([
    ensureNodeCertificates(shared, { hostname: HOST, ips: ['10.0.0.7'] }),
    ensureNodeCertificates(shared, { hostname: HOST, ips: ['10.0.0.7'] }),
  ]);
  const again = await ensureNodeCertificates(shared, { hostname: HOST, ips: ['10.0.0.7'] });
  assert.ok(
    again.actions.every((a) => a.action === 'kept'),
    JSON.stringify(again.actions),
  );
});

test('no key material was ever logged', async () => {
  const text = await readFile(logFile, 'utf8');
  assert.ok(text.includes('issued a certificate'), 'the log was captured');
  assert.not.match(text, /PRIVATE KEY|BEGIN|client-key-data/);
  // Nor a base64 rendering of any key line (kubeconfigs embed keys as base64).
  for (const path of [layout.leaves.server.keyPath, layout.serviceAccount.keyPath]) {
    const body = (await readFile(path, 'utf8')).split('\n')[1]!;
    assert.not.ok(text.includes(body.slice(0, 24)), path);
  }
  const b64 = Buffer.from((await kubeconfig('admin')).keyPem).toString('base64');
  assert.not.ok(text.includes(b64.slice(0, 40)));
});

test.run();
