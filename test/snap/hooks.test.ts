/**
 * The snap's hooks run from the real .snap file (`npm run snap`'s, built from this checkout's
 * dist/ when the cache has none for its inputs) unpacked with unsquashfs, under a simulated snap
 * environment: SNAP (the unpacked snap), SNAP_DATA per revision, SNAP_COMMON, SNAP_REVISION and
 * a stand-in snapctl. snapd cannot run here, so snapctl is MOCKED (test/snap/snap-env.ts); the
 * datastore it is asked to start is the real daemon, started through the snap's own app command.
 * No Kubernetes runs here: the launch configuration's addons are checked queued, and the snap's
 * `launch-config apply` is checked to keep them queued while Kubernetes does not serve.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkPrimeTree, treeFiles } from '../../snap/local/pack/check.js';
import { localEtcdCall } from '../../src/cluster/local-etcd.js';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { resolvePaths } from '../../src/lib/paths.js';
import { keyspaceDigest, readKeyspace } from '../../src/lifecycle/backup.js';
import { nodeEtcdSocket } from '../../src/lifecycle/datastore-socket.js';
import { MIGRATIONS, type Migration, runMigrations } from '../../src/lifecycle/migrations.js';
import {
  REFRESH_LEASE_KEY,
  refreshLeaseHolder,
  takeRefreshLease,
} from '../../src/lifecycle/refresh-lease.js';
import { SimulatedSnap, unpackedSnap } from './snap-env.js';

const snap = new SimulatedSnap('hooks');
const blocked = new SimulatedSnap('hooks-blocked');
const refused = new SimulatedSnap('hooks-refused');
// A loopback address of this test's own: the node listens there, not on the host's interfaces.
writeFileSync(join(blocked.common, '.microk8s.yaml'), 'address: 127.0.18.1\n');
// MicroK8s's launch configuration format: args per service and addons, on top of the address.
writeFileSync(
  join(snap.common, '.microk8s.yaml'),
  [
    'version: 0.1.0',
    'address: 127.0.18.1',
    'extraKubeletArgs:',
    '  --max-pods: 90',
    'extraKubeAPIServerArgs:',
    '  --audit-log-maxage: "7"',
    'addons:',
    '  - name: dns',
    '    args: [--upstream, 1.1.1.1]',
    '',
  ].join('\n'),
);

test.after(async () => {
  await snap.stop();
  for (const s of [snap, blocked, refused]) s.remove();
});

test('the hooks are those of the .snap built from this checkout: its dist/ is ours, hooks executable', () => {
  const { snap: built, root, unpackSeconds } = unpackedSnap();
  process.stderr.write(
    `[snap] ${built.bytes} bytes, built in ${built.buildSeconds} s${built.built ? ' (now)' : ' (cached)'}, unpacked in ${unpackSeconds} s\n`,
  );
  assert.ok(built.bytes > 50 * 1024 * 1024, `${built.bytes} bytes`);
  const dist = join(process.cwd(), 'dist');
  const ours = treeFiles(dist);
  assert.equal(treeFiles(join(root, 'app', 'dist')), ours, 'the same files');
  for (const file of ours)
    assert.ok(
      readFileSync(join(root, 'app', 'dist', file)).equals(readFileSync(join(dist, file))),
      `dist/${file}`,
    );
  for (const hook of ['install', 'configure', 'pre-refresh', 'post-refresh', 'remove'])
    assert.is(statSync(join(root, 'meta', 'hooks', hook)).mode & 0o111, 0o111, hook);
  // snapd's rules on the unpacked file: snap.yaml, apps' commands, hooks, every ELF's architecture.
  const check = checkPrimeTree(root);
  assert.equal(check.problems, []);
  assert.ok(check.elfFiles >= 13, `${check.elfFiles} ELF files`);
  assert.is(snap.env().SNAP, root);
});

test('a launch configuration with an unknown key: install refused naming it, nothing written', () => {
  // MICROK8S_LAUNCH_CONFIG stands for /etc/microk8s.yaml, read before $SNAP_COMMON/.microk8s.yaml.
  const etc = join(refused.work, 'etc-microk8s.yaml');
  writeFileSync(etc, 'extraKubeletArgs:\n  --max-pods: 90\naddons:\n  - nmae: dns\n');
  writeFileSync(join(refused.common, '.microk8s.yaml'), 'address: 127.0.18.1\n');
  refused.extraEnv = { MICROK8S_LAUNCH_CONFIG: etc };
  const r = refused.hook('install');
  assert.is(r.code, 78, r.stdout);
  assert.match(r.stderr, 'MK_INVALID_CONFIG');
  assert.match(r.stderr, `launch configuration ${etc}: addons[0].nmae: unknown key`);
  assert.equal(readdirSync(refused.data()), [], 'SNAP_DATA untouched');
  assert.equal(readdirSync(refused.common), ['.microk8s.yaml'], 'SNAP_COMMON untouched');
  assert.equal(refused.calls(), []);
});

test("a launch configuration's join to an agent that does not answer: install fails, no cluster set up", () => {
  const etc = join(refused.work, 'etc-microk8s.yaml');
  // 127.0.18.9: a loopback address of this test's own where nothing listens.
  writeFileSync(etc, `join:\n  url: 127.0.18.9:25000/${'ab'.repeat(16)}/${'cd'.repeat(16)}\n`);
  const r = refused.hook('install', 120_000);
  assert.is(r.code, 3, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, 'MK_AGENT_UNREACHABLE');
  for (const file of ['node.json', 'args/kube-apiserver', 'args/datastore', 'certs/ca.crt'])
    assert.not.ok(existsSync(join(refused.data(), file)), file);
  assert.equal(refused.calls(), []);
});

test("a launch configuration's external etcd: kube-apiserver's args name its endpoints and files", () => {
  const etc = join(refused.work, 'etc-microk8s.yaml');
  const pem = join(refused.work, 'etcd.pem'); // only required to exist: nothing starts here
  writeFileSync(pem, 'not read at install');
  writeFileSync(
    etc,
    [
      'address: 127.0.18.2',
      'externalEtcd:',
      '  endpoints: [https://127.0.18.3:2379]',
      ...['caFile', 'certFile', 'keyFile'].map((key) => `  ${key}: ${pem}`),
      '',
    ].join('\n'),
  );
  const r = refused.hook('install');
  assert.is(r.code, 0, r.stderr);
  const args = readFileSync(join(refused.data(), 'args', 'kube-apiserver'), 'utf8');
  assert.match(args, /^--etcd-servers=https:\/\/127\.0\.18\.3:2379$/m);
  for (const flag of ['etcd-cafile', 'etcd-certfile', 'etcd-keyfile']) assert.match(args, `--${flag}=${pem}`);
  assert.equal(refused.calls(), [], 'install starts nothing');
});

function nodeRecord(s: SimulatedSnap, revision = s.revision): Record<string, unknown> {
  return JSON.parse(readFileSync(join(s.data(revision), 'node.json'), 'utf8')) as Record<string, unknown>;
}

test('strict with a plug missing: configure reports blocked health naming it and starts nothing', () => {
  const install = blocked.hook('install');
  assert.is(install.code, 0, install.stderr);
  blocked.setMissingPlugs(['k8s-kubelet']);
  blocked.clearCalls();
  const r = blocked.hook('configure');
  assert.is(r.code, 0, r.stderr);
  const calls = blocked.calls();
  const health = calls.filter((c) => c.startsWith('set-health'));
  assert.equal(health.length, 1, calls.join('\n'));
  assert.match(health[0]!, /^set-health blocked not connected: k8s-kubelet /);
  assert.equal(
    calls.filter((c) => c.startsWith('start')),
    [],
  );
});

test('install, then configure: certificates, args, the daemons started in order, a running datastore', () => {
  const install = snap.hook('install');
  assert.is(install.code, 0, install.stderr);
  assert.match(install.stdout, 'set up on 127.0.18.1 as a new single-node cluster');
  const data = snap.data();
  for (const file of ['certs/ca.crt', 'args/kube-apiserver', 'args/datastore', 'args/kubelet', 'node.json'])
    assert.ok(readFileSync(join(data, file)).length > 0, file);
  // The launch configuration: its args in the args files, its addons queued for when Kubernetes is up.
  assert.match(install.stdout, `launch configuration ${join(snap.common, '.microk8s.yaml')} applied`);
  assert.match(install.stdout, 'args changed: kubelet, kube-apiserver');
  assert.match(readFileSync(join(data, 'args', 'kubelet'), 'utf8'), /^--max-pods=90$/m);
  assert.match(readFileSync(join(data, 'args', 'kube-apiserver'), 'utf8'), /^--audit-log-maxage=7$/m);
  assert.match(install.stdout, 'addons queued until the node is up: dns');
  const plan = JSON.parse(readFileSync(join(snap.common, 'launch-plan.json'), 'utf8')) as { addons: unknown };
  assert.equal(plan.addons, [{ name: 'dns', args: ['--upstream', '1.1.1.1'], disable: false }]);
  assert.equal(snap.calls(), [], 'install starts nothing');
  const r = snap.hook('configure');
  assert.is(r.code, 0, r.stderr);
  const starts = snap.calls().filter((c) => c.startsWith('start'));
  assert.is(starts[0], 'start --enable microk8s.daemon-datastore');
  assert.ok(starts.includes('start --enable microk8s.daemon-kubelet'));
  // The launch-config app (a oneshot snapd runs after the API server) asked to enable the addons.
  assert.is(starts.at(-1), 'start microk8s.launch-config');
  // What it runs, from the snap: Kubernetes does not serve here, so the addons stay queued.
  const apply = snap.app(['launch-config', 'apply']);
  assert.is(apply.code, 3, apply.stdout);
  assert.match(apply.stderr, 'MK_NOT_RUNNING');
  assert.match(apply.stderr, 'stay queued');
  assert.ok(existsSync(join(snap.common, 'launch-plan.json')));
  assert.ok(snap.calls().includes('set-health okay'));
  const status = snap.app(['status', '--wait-ready', '--timeout', '60'], 90_000);
  assert.is(status.code, 0, status.stderr);
  assert.match(status.stdout, 'microk8s is running');
});

test('refresh N -> N+1: backup and lease before, SNAP_DATA copied, node record v1 -> v2 and lease released after', async () => {
  // Revision N wrote a schema 1 record and knew no migrations.
  const v1 = { ...nodeRecord(snap), schema: 1 } as Record<string, unknown>;
  delete v1.writtenBy;
  writeFileSync(join(snap.data(), 'node.json'), `${JSON.stringify(v1, null, 2)}\n`);
  writeFileSync(join(snap.data(), 'migrations.json'), '{"applied":[]}\n');
  const pre = snap.hook('pre-refresh');
  assert.is(pre.code, 0, pre.stderr);
  assert.match(pre.stdout, /refresh lease taken by \S+\/1/);
  assert.match(pre.stdout, 'the only datastore voter: no leadership to hand over');
  const backupFile = /backup (\S+):/.exec(pre.stdout)?.[1];
  assert.ok(backupFile, pre.stdout);
  const backup = JSON.parse(readFileSync(backupFile!, 'utf8')) as {
    sha256: string;
    kvs: { key: string; value: string }[];
  };
  assert.is(backup.sha256, keyspaceDigest(backup.kvs));
  // The refresh lease it has just taken is on an etcd lease: left out (restored without its lease,
  // the key would never expire and refuse every later refresh).
  assert.match(pre.stdout, '(1 on a lease left out)');
  const keys = backup.kvs.map((kv) => Buffer.from(kv.key, 'base64').toString());
  assert.not.ok(keys.includes(REFRESH_LEASE_KEY), keys.join(', '));
  // Another node's pre-refresh is refused while this one holds the lease.
  const paths = resolvePaths(snap.env());
  const socket = nodeEtcdSocket(paths);
  const holder = await refreshLeaseHolder(socket);
  assert.ok(holder?.node.endsWith('/1'));
  try {
    await takeRefreshLease(socket, `${holder!.node.split('/')[0]}/2`, '1');
    assert.unreachable('the lease is held');
  } catch (error) {
    assert.ok(isMicroK8sError(error, 'MK_REFRESH_REFUSED'), String(error));
    assert.match((error as Error).message, holder!.node);
  }
  snap.refreshData();
  const post = snap.hook('post-refresh');
  assert.is(post.code, 0, post.stderr);
  assert.match(post.stdout, 'migrations: 1');
  assert.match(post.stdout, 'refresh lease released');
  const record = nodeRecord(snap);
  assert.is(record.schema, 2);
  assert.equal(record.writtenBy, { version: '1.36.3', revision: '2' });
  assert.is(nodeRecord(snap, 1).schema, 1, "revision N's copy is left as it was");
  assert.is(await refreshLeaseHolder(socket), undefined);
});

test('a migration made to fail rolls back every one of the run; the node serves on its old data', async () => {
  snap.refreshData();
  const recordFile = join(snap.data(), 'node.json');
  const v1 = { ...nodeRecord(snap), schema: 1 } as Record<string, unknown>;
  delete v1.writtenBy;
  writeFileSync(recordFile, `${JSON.stringify(v1, null, 2)}\n`);
  writeFileSync(join(snap.data(), 'migrations.json'), '{"applied":[]}\n');
  const before = readFileSync(recordFile);
  const failing: Migration = {
    id: 99,
    name: 'made to fail',
    files: (p) => [join(p.args, 'kubelet')],
    commit: async (p) => {
      writeFileSync(join(p.args, 'kubelet'), 'half written');
      throw new Error('disk full (made up by the test)');
    },
  };
  const kubeletArgs = readFileSync(join(snap.data(), 'args', 'kubelet'));
  const paths = resolvePaths(snap.env());
  try {
    await runMigrations(paths, [...MIGRATIONS, failing]);
    assert.unreachable('the migration fails');
  } catch (error) {
    assert.ok(isMicroK8sError(error, 'MK_MIGRATION_FAILED'), String(error));
  }
  assert.equal(readFileSync(recordFile), before, 'migration 1 rolled back too');
  assert.equal(readFileSync(join(snap.data(), 'args', 'kubelet')), kubeletArgs);
  assert.is(readFileSync(join(snap.data(), 'migrations.json'), 'utf8'), '{"applied":[]}\n');
  const status = snap.app(['status', '--wait-ready', '--timeout', '30'], 60_000);
  assert.is(status.code, 0, status.stderr);
  assert.match(status.stdout, 'microk8s is running');
});

test('dbctl backup, a wiped keyspace, dbctl restore: every key back; a damaged archive changes nothing', async () => {
  const socket = nodeEtcdSocket(resolvePaths(snap.env()));
  const put = (key: string, value: string) =>
    localEtcdCall(socket, 'KV', 'Put', { key: Buffer.from(key), value: Buffer.from(value) });
  for (let i = 0; i < 30; i++) await put(`/test/restore/${i}`, `value ${i}`);
  const file = join(snap.work, 'backup.json');
  const backup = snap.app(['dbctl', 'backup', '-o', file]);
  assert.is(backup.code, 0, backup.stderr);
  const digest = async () => keyspaceDigest((await readKeyspace(socket)).kvs);
  const before = await digest();
  assert.is((JSON.parse(readFileSync(file, 'utf8')) as { sha256: string }).sha256, before);
  // A wiped keyspace, and a key the backup never had.
  await localEtcdCall(socket, 'KV', 'DeleteRange', { key: Buffer.from([0]), range_end: Buffer.from([0]) });
  await put('/test/stray', 'not in the backup');
  const restore = snap.app(['dbctl', 'restore', file]);
  assert.is(restore.code, 0, restore.stderr);
  assert.is(await digest(), before, 'every key and value back, the stray one gone');
  // One value changed in the archive: refused before anything is touched.
  const archive = JSON.parse(readFileSync(file, 'utf8')) as { kvs: { value: string }[] };
  archive.kvs[0]!.value = Buffer.from('edited').toString('base64');
  const damaged = join(snap.work, 'damaged.json');
  writeFileSync(damaged, JSON.stringify(archive));
  await put('/test/after', 'kept');
  const unchanged = await digest();
  const refused = snap.app(['dbctl', 'restore', damaged]);
  assert.is(refused.code, 5, refused.stdout);
  assert.match(refused.stderr, 'MK_DATA_CORRUPTION');
  assert.is(await digest(), unchanged);
});

test('remove: the node is stopped (daemons in reverse order), cleaned up, each step reported', () => {
  snap.clearCalls();
  // In a network namespace of its own: kube-proxy --cleanup flushes that namespace's rules only.
  const r = snap.hook('remove', 180_000, ['unshare', '--net']);
  assert.is(r.code, 0, r.stderr);
  for (const step of ['leave: ', 'stop: stopped', 'containers: ', 'iptables: ']) assert.match(r.stdout, step);
  const stops = snap.calls().filter((c) => c.startsWith('stop'));
  assert.is(stops.at(-1), 'stop --disable microk8s.daemon-datastore');
  assert.ok(stops.length >= 8, stops.join('\n'));
});

test.run();
