// `microk8s refresh-certs` run as a real child process against a node folder in MICROK8S_HOME.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureNodeCertificates } from '../../src/cluster/pki/node-set.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'run.js');
const home = mkdtempSync(join(tmpdir(), 'mk8s-refresh-'));
const data = join(home, 'data');
const certs = join(data, 'certs');

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'refresh-certs', ...args], {
    encoding: 'utf8',
    env: { ...process.env, MICROK8S_HOME: home, SNAP: '', MICROK8S_LOG_LEVEL: 'warn' },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function read(path: string): Promise<Buffer> {
  return readFile(path);
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

async function backups(): Promise<string[]> {
  return (await readdir(data)).filter((name) => name.startsWith('certs-backup-')).sort();
}

test.before(() => {
  assert.ok(existsSync(join(ROOT, 'dist', 'commands', 'refresh-certs.js')), 'run `npm run build` first');
});
test.after(() => rmSync(home, { recursive: true, force: true }));

test('without a certificate set: MK_CERTS_MISSING, exit 78, nothing created', () => {
  const check = run(['--check']);
  assert.is(check.code, 78, check.stderr);
  assert.match(check.stderr, /Error \[MK_CERTS_MISSING\]/);
  assert.match(check.stderr, /Hint: /);
  const json = run(['--check', '--json']);
  assert.is(json.code, 78);
  assert.is(JSON.parse(json.stdout).error.code, 'MK_CERTS_MISSING');
  const refresh = run([]);
  assert.is(refresh.code, 78);
  assert.match(refresh.stderr, /MK_CERTS_MISSING/);
  assert.not.ok(existsSync(data), 'no folder was created');
});

test('--check lists every certificate and the CAs with their days to expiry', async () => {
  // 127.0.1.7 is a loopback alias (as the lab uses): the refresh below must keep it.
  await ensureNodeCertificates(certs, { hostname: hostname(), ips: ['127.0.1.7'] });
  const r = run(['--check']);
  assert.is(r.code, 0, r.stderr);
  for (const name of ['ca', 'front-proxy-ca', 'server', 'front-proxy-client', 'peer', 'kubeconfig/kubelet']) {
    assert.match(
      r.stdout,
      new RegExp(`\\n  ${name.replace('/', '\\/')}\\s+36\\d\\d days left \\(until \\d{4}-`),
      name,
    );
  }
  const json = JSON.parse(run(['--check', '--json']).stdout) as {
    certificates: { name: string; kind: string; daysLeft: number; notAfter: string }[];
  };
  // The 2 CAs, 5 leaf certificates (the datastore's client identity among them) and 5 kubeconfigs.
  assert.is(json.certificates.length, 12);
  assert.ok(json.certificates.some((c) => c.name === 'datastore-client'));
  const ca = json.certificates.find((c) => c.name === 'ca')!;
  assert.is(ca.kind, 'ca');
  assert.ok(ca.daysLeft >= 3648 && ca.daysLeft <= 3653, String(ca.daysLeft));
  assert.is(json.certificates.filter((c) => c.kind === 'kubeconfig').length, 5);
  assert.equal(await backups(), [], '--check changes nothing');
});

test('refresh backs up the old set, re-issues every non-CA certificate and keeps the CAs', async () => {
  const files = ['ca.crt', 'ca.key', 'front-proxy-ca.key', 'serviceaccount.key', 'server.crt', 'server.key'];
  const before = Object.fromEntries(
    await Promise.all(files.map(async (f) => [f, await read(join(certs, f))])),
  );
  const kubeletBefore = await read(join(certs, 'kubeconfig', 'kubelet.config'));

  const r = run([]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /Backed up the old certificates to .*certs-backup-/);
  assert.match(r.stdout, /The CAs were kept/);

  const [backup] = await backups();
  assert.ok(backup, 'a backup folder next to certs');
  assert.match(backup!, /^certs-backup-\d{4}-\d\d-\d\dT\d{6}-\d{3}Z$/);
  const backupDir = join(data, backup!);
  for (const f of files) assert.ok((await read(join(backupDir, f))).equals(before[f]), `backup of ${f}`);
  assert.ok((await read(join(backupDir, 'kubeconfig', 'kubelet.config'))).equals(kubeletBefore));
  for (const key of ['ca.key', 'server.key', 'serviceaccount.key', 'kubeconfig/admin.config']) {
    assert.is(await mode(join(backupDir, key)), 0o600, `backup ${key}`);
    assert.is(await mode(join(certs, key)), 0o600, key);
  }
  assert.is((await mode(backupDir)) & 0o077, 0, 'the backup folder is private');

  for (const kept of ['ca.crt', 'ca.key', 'front-proxy-ca.key', 'serviceaccount.key']) {
    assert.ok((await read(join(certs, kept))).equals(before[kept]), `${kept} is kept`);
  }
  assert.not.ok((await read(join(certs, 'server.crt'))).equals(before['server.crt']), 'server.crt is new');
  assert.not.ok((await read(join(certs, 'server.key'))).equals(before['server.key']), 'server.key is new');
  assert.not.ok((await read(join(certs, 'kubeconfig', 'kubelet.config'))).equals(kubeletBefore));

  const ca = new X509Certificate(await read(join(certs, 'ca.crt')));
  const server = new X509Certificate(await read(join(certs, 'server.crt')));
  assert.ok(server.verify(ca.publicKey), 'the new certificate chains to the kept CA');
  assert.ok(server.checkIP('127.0.1.7'), 'the loopback alias is kept');
  assert.ok(server.checkIP('10.152.183.1') && server.checkHost('kubernetes.default.svc'));
});

test('refresh --json reports the backup, what was issued and the new expiry; backups never collide', async () => {
  const r = run(['--json']);
  assert.is(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as {
    backupDir: string;
    actions: { name: string; action: string }[];
    certificates: { name: string }[];
  };
  assert.ok(existsSync(result.backupDir));
  const byName = Object.fromEntries(result.actions.map((a) => [a.name, a.action]));
  assert.is(byName.ca, 'kept');
  assert.is(byName.server, 'reissued');
  assert.is(byName['kubeconfig/proxy'], 'reissued');
  assert.is(result.certificates.length, 12);
  assert.is(byName['datastore-client'], 'reissued');
  assert.is((await backups()).length, 2);
  const nested = await readdir(result.backupDir);
  assert.not.ok(
    nested.some((n) => n.startsWith('certs-backup') || n.startsWith('.pki')),
    'no nested backups or lock files',
  );
});

test.run();
