/**
 * The same node checks as single-node.test.ts, with kube-apiserver on a real external etcd
 * cluster instead of our datastore: three etcd 3.6 members (built from etcd's module by
 * `npm run build:upstream`) with TLS for clients (certificates checked) and peers, started here
 * on loopback inside this file's own network namespace. `microk8s start --etcd-endpoints ...`
 * sets the node up with them, as a user outgrowing the embedded store would.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureClusterCa, issueCertificate } from '../../src/cluster/pki.js';
import { resolveUpstreamPaths } from '../../src/lib/upstream-paths.js';
import { KubeNode, until } from './node-cli.js';
import { inOwnNetns } from './node-netns.js';
import {
  busyboxImage,
  checkNodeReady,
  checkReadyz,
  checkWeb,
  containersOf,
  deployWeb,
  killAndRecover,
  processesOf,
  waitReady,
  webManifest,
} from './scenario.js';

const address = await inOwnNetns(new URL(import.meta.url).pathname, '10.200.1.2');
const node = new KubeNode('mk8s-ext-etcd');
const etcdDir = join(node.home, 'external-etcd');
const MEMBERS = ['127.0.9.1', '127.0.9.2', '127.0.9.3'];
const etcdBin = join(resolveUpstreamPaths().bin, 'etcd');
const etcdctlBin = join(resolveUpstreamPaths().bin, 'etcdctl');
const members: ChildProcess[] = [];
let tls = { ca: '', serverCert: '', serverKey: '', clientCert: '', clientKey: '' };
const endpoints = MEMBERS.map((ip) => `https://${ip}:2379`);

function etcdctl(...args: string[]): string {
  return execFileSync(
    etcdctlBin,
    [
      `--endpoints=${endpoints.join(',')}`,
      `--cacert=${tls.ca}`,
      `--cert=${tls.clientCert}`,
      `--key=${tls.clientKey}`,
      ...args,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
}

test.before(async () => {
  mkdirSync(etcdDir, { recursive: true });
  const ca = await ensureClusterCa(join(etcdDir, 'ca'), { commonName: 'external-etcd-ca' });
  const server = await issueCertificate(ca, join(etcdDir, 'member'), 'member', {
    commonName: 'external-etcd-member',
    // Members check each other's client certificate against the source address (127.0.0.1).
    ips: [...MEMBERS, '127.0.0.1'],
    usage: 'peer',
  });
  const client = await issueCertificate(ca, join(etcdDir, 'client'), 'apiserver-etcd-client', {
    commonName: 'kube-apiserver-etcd-client',
    usage: 'client',
  });
  tls = {
    ca: ca.certPath,
    serverCert: server.certPath,
    serverKey: server.keyPath,
    clientCert: client.certPath,
    clientKey: client.keyPath,
  };
  const cluster = MEMBERS.map((ip, i) => `e${i + 1}=https://${ip}:2380`).join(',');
  MEMBERS.forEach((ip, i) => {
    const out = openSync(join(etcdDir, `e${i + 1}.log`), 'a');
    members.push(
      spawn(
        etcdBin,
        [
          `--name=e${i + 1}`,
          `--data-dir=${join(etcdDir, `e${i + 1}`)}`,
          `--listen-client-urls=https://${ip}:2379`,
          `--advertise-client-urls=https://${ip}:2379`,
          `--listen-peer-urls=https://${ip}:2380`,
          `--initial-advertise-peer-urls=https://${ip}:2380`,
          `--initial-cluster=${cluster}`,
          '--initial-cluster-state=new',
          `--cert-file=${tls.serverCert}`,
          `--key-file=${tls.serverKey}`,
          `--trusted-ca-file=${tls.ca}`,
          '--client-cert-auth',
          `--peer-cert-file=${tls.serverCert}`,
          `--peer-key-file=${tls.serverKey}`,
          `--peer-trusted-ca-file=${tls.ca}`,
          '--peer-client-cert-auth',
        ],
        { stdio: ['ignore', out, out] },
      ),
    );
  });
  await until('the external etcd cluster is healthy', 60_000, async () =>
    etcdctl('endpoint', 'health')
      .split('\n')
      .filter((l) => l.includes('is healthy')).length === 3
      ? true
      : undefined,
  );
});

test.after(async () => {
  if (node.started) await node.run(['stop']);
  for (const member of members) if (member.pid && member.exitCode === null) member.kill('SIGKILL');
  rmSync(node.home, { recursive: true, force: true });
});

test('start --etcd-endpoints: kube-apiserver on the external etcd, no datastore of ours runs', async () => {
  await node.ok([
    'start',
    '--address',
    address,
    '--etcd-endpoints',
    endpoints.join(','),
    '--etcd-cafile',
    tls.ca,
    '--etcd-certfile',
    tls.clientCert,
    '--etcd-keyfile',
    tls.clientKey,
  ]);
  await waitReady(node);
  const services = node.supervisorReport().services.map((s) => s.name);
  assert.not.ok(services.includes('datastore'), services.join(','));
  const status = await node.ok(['status']);
  assert.match(status, `datastore: external etcd at ${endpoints.join(', ')}`);
});

test('the node is Ready with the real version, and /readyz (etcd included) is all ok', async () => {
  await checkNodeReady(node);
  await checkReadyz(node);
});

test('the cluster state is in the external etcd', async () => {
  const keys = etcdctl('get', '/registry/minions/', '--prefix', '--keys-only');
  assert.match(keys, '/registry/minions/');
});

test('a Deployment of 3 replicas becomes Available; logs, exec, ClusterIP, pod to pod', async () => {
  const manifest = join(node.home, 'web.json');
  writeFileSync(manifest, webManifest(await busyboxImage(node)));
  await deployWeb(node, manifest);
  await checkWeb(node);
});

for (const service of ['kubelet', 'kube-apiserver']) {
  test(`SIGKILL of ${service}: restarted, the API answers again, the pods kept running`, async () => {
    const ms = await killAndRecover(node, service);
    console.log(`external etcd: recovery after SIGKILL of ${service}: ${(ms / 1000).toFixed(1)} s`);
  });
}

test('stop leaves no process of the node and no container', async () => {
  await node.ok(['stop']);
  assert.equal(
    processesOf(node.home).filter((p) => !p.includes(etcdDir)),
    [],
  );
  assert.equal(containersOf(node.home), []);
});

test.run();
