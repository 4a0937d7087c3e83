/**
 * The listeners: a unix socket (etcd3 client and etcdctl), TCP + TLS with client certificates
 * (a throwaway CA made with openssl), and the refusal of plain TCP off loopback. Single-node
 * LocalBackend (test/etcd/local-backend.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EtcdServer } from '../../src/datastore/etcd/server.js';
import type { MicroK8sError } from '../../src/lib/errors.js';
import { runFile } from '../../src/lib/run-file.js';
import { call, eventually, type Harness, rawClients, startHarness, tempDir } from './helpers.js';
import { LocalBackend, quietLogger } from './local-backend.js';

const tmp = tempDir('mk8s-etcd-listen-');
let h: Harness;
let socketPath: string;

test.before(async () => {
  socketPath = join(tmp.dir, 'etcd.sock');
  h = await startHarness({ listen: [{ unixSocket: socketPath }] });
});

test.after(async () => {
  await h.close();
  tmp.cleanup();
});

async function etcdctl(args: string[], timeout = 15_000) {
  return runFile('etcdctl', ['--dial-timeout=5s', '--command-timeout=10s', ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    timeoutMs: timeout,
  });
}

// ------------------------------------------------------------------ unix socket

test('unix socket: mode 0600, etcd3 client and etcdctl (unix:// puts the path in :authority)', async () => {
  assert.is(statSync(socketPath).mode & 0o777, 0o600);
  const client = new Etcd3({ hosts: `unix://${socketPath}` });
  try {
    await client.put('/unix/k').value('v');
    assert.is(await client.get('/unix/k').string(), 'v');
  } finally {
    client.close();
  }
  const get = await etcdctl([`--endpoints=unix://${socketPath}`, 'get', '/unix/k']);
  assert.is(get.exitCode, 0, String(get.stderr));
  assert.is(get.stdout, '/unix/k\nv\n');
  const put = await etcdctl([`--endpoints=unix://${socketPath}`, 'put', '/unix/k2', 'v2']);
  assert.is(put.stdout, 'OK\n');
  const watch = await etcdctl([`--endpoints=unix://${socketPath}`, 'watch', '/unix/k2', '--rev=1'], 2000);
  assert.is(watch.stdout, 'PUT\n/unix/k2\nv2\n');
});

test('unix socket: a stale socket file is replaced, a live one or another file is refused', async () => {
  const path = join(tmp.dir, 'stale.sock');
  // A process that dies without cleaning up leaves its socket file behind.
  const child: ChildProcess = spawn(process.execPath, [
    '-e',
    `require('node:net').createServer().listen(${JSON.stringify(path)}); setTimeout(() => {}, 60000);`,
  ]);
  try {
    await eventually(() => existsSync(path), 5000, 'child socket');
  } finally {
    child.kill('SIGKILL');
  }
  await new Promise((r) => child.once('exit', r));
  assert.ok(existsSync(path), 'stale socket left behind');
  const backend = new LocalBackend();
  const server = new EtcdServer({ backend, logger: quietLogger });
  try {
    const [bound] = await server.listen({ unixSocket: path });
    assert.is(bound!.path, path);
    const clients = rawClients(`unix://${path}`);
    const status = await call(clients.maintenance, 'Status', {});
    assert.is(status.version, '3.5.13');
    clients.close();
    // Now live: a second server must not take it over.
    const other = new EtcdServer({ backend, logger: quietLogger });
    try {
      await other.listen({ unixSocket: path });
      assert.unreachable('socket in use');
    } catch (error) {
      assert.is((error as MicroK8sError).code, 'MK_INVALID_CONFIG');
      assert.match((error as Error).message, 'in use');
    } finally {
      await other.stop();
    }
    const file = join(tmp.dir, 'not-a-socket');
    writeFileSync(file, 'keep me');
    try {
      await other.listen({ unixSocket: file });
      assert.unreachable('a regular file');
    } catch (error) {
      assert.is((error as MicroK8sError).code, 'MK_STOPPED', 'a stopped server refuses to listen');
    }
    const third = new EtcdServer({ backend, logger: quietLogger });
    try {
      await third.listen({ unixSocket: file });
      assert.unreachable('a regular file');
    } catch (error) {
      assert.is((error as MicroK8sError).code, 'MK_INVALID_CONFIG');
      assert.is(readFileSync(file, 'utf8'), 'keep me');
    } finally {
      await third.stop();
    }
  } finally {
    await server.stop();
    backend.close();
  }
  assert.not.ok(existsSync(path), 'the socket file is removed on stop');
});

// ------------------------------------------------------------------ plain TCP policy

test('plain TCP on a non-loopback address is refused; TLS is required there', async () => {
  const addresses = ['0.0.0.0', '::'];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') addresses.push(a.address);
  }
  const backend = new LocalBackend();
  const server = new EtcdServer({ backend, logger: quietLogger });
  try {
    for (const host of addresses) {
      try {
        await server.listen({ tcp: { host, port: 0 } });
        assert.unreachable(host);
      } catch (error) {
        assert.is((error as MicroK8sError).code, 'MK_INVALID_CONFIG', host);
      }
    }
    const [bound] = await server.listen({ tcp: { host: 'localhost', port: 0 } });
    assert.ok(bound!.host === '127.0.0.1' || bound!.host === '::1', bound!.host);
    // A port in use, a socket in a missing folder: configuration errors, not crashes.
    for (const options of [
      { tcp: { host: bound!.host!, port: bound!.port! } },
      { unixSocket: join(tmp.dir, 'missing', 'etcd.sock') },
    ]) {
      try {
        await server.listen(options);
        assert.unreachable(JSON.stringify(options));
      } catch (error) {
        assert.is((error as MicroK8sError).code, 'MK_INVALID_CONFIG');
        assert.match((error as Error).message, 'cannot listen on');
      }
    }
  } finally {
    await server.stop();
    backend.close();
  }
});

// ------------------------------------------------------------------ TLS with client certificates

async function openssl(args: string[]): Promise<void> {
  const r = await runFile('openssl', args, { cwd: tmp.dir, timeoutMs: 30_000 });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

async function makeCa(name: string): Promise<void> {
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-subj',
    `/CN=${name}`,
    '-days',
    '1',
  ]);
}

async function makeCert(name: string, ca: string, usage: string): Promise<void> {
  writeFileSync(
    join(tmp.dir, `${name}.ext`),
    `subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=${usage}\n`,
  );
  await openssl([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${name}`,
  ]);
  await openssl([
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '1',
    '-extfile',
    `${name}.ext`,
  ]);
}

const pem = (name: string) => readFileSync(join(tmp.dir, name));

test('TLS listener: client certificates from the CA are required', async () => {
  await makeCa('ca');
  await makeCa('rogue-ca');
  await makeCert('server', 'ca', 'serverAuth');
  await makeCert('client', 'ca', 'clientAuth');
  await makeCert('rogue', 'rogue-ca', 'clientAuth');
  const [bound] = await h.server.listen({
    tcp: {
      host: '127.0.0.1',
      port: 0,
      tls: { ca: pem('ca.crt'), cert: pem('server.crt'), key: pem('server.key') },
    },
  });
  assert.is(bound!.kind, 'tls');
  const address = `127.0.0.1:${bound!.port}`;

  // The etcd3 npm client with a client certificate.
  // "localhost" rather than the IP: Node warns about an IP as TLS server name (the SAN has both).
  const named = `localhost:${bound!.port}`;
  const good = new Etcd3({
    hosts: `https://${named}`,
    credentials: {
      rootCertificate: pem('ca.crt'),
      certChain: pem('client.crt'),
      privateKey: pem('client.key'),
    },
  });
  try {
    await good.put('/tls/k').value('secret');
    assert.is(await good.get('/tls/k').string(), 'secret');
  } finally {
    good.close();
  }

  // etcdctl over TLS, with the https:// scheme and without it.
  const files = [
    '--cacert',
    join(tmp.dir, 'ca.crt'),
    '--cert',
    join(tmp.dir, 'client.crt'),
    '--key',
    join(tmp.dir, 'client.key'),
  ];
  for (const endpoint of [`https://${address}`, address]) {
    const get = await etcdctl([`--endpoints=${endpoint}`, ...files, 'get', '/tls/k', '--print-value-only']);
    assert.is(get.exitCode, 0, String(get.stderr));
    assert.is(get.stdout, 'secret\n');
  }
  const health = await etcdctl([`--endpoints=https://${address}`, ...files, 'endpoint', 'health']);
  assert.match(String(health.stdout) + String(health.stderr), 'is healthy');

  // No client certificate, or one from another CA: the handshake fails.
  const refused = async (credentials: grpc.ChannelCredentials, what: string) => {
    const clients = rawClients(named, credentials);
    try {
      await call(clients.maintenance, 'Status', {});
      assert.unreachable(what);
    } catch (error) {
      assert.is((error as grpc.ServiceError).code, grpc.status.UNAVAILABLE, what);
    } finally {
      clients.close();
    }
  };
  await refused(grpc.credentials.createSsl(pem('ca.crt')), 'no client certificate');
  await refused(
    grpc.credentials.createSsl(pem('ca.crt'), pem('rogue.key'), pem('rogue.crt')),
    'certificate of another CA',
  );
  const noCert = await etcdctl(
    [
      `--endpoints=https://${address}`,
      '--cacert',
      join(tmp.dir, 'ca.crt'),
      '--dial-timeout=1s',
      '--command-timeout=2s',
      'get',
      '/tls/k',
    ],
    15_000,
  );
  assert.is.not(noCert.exitCode, 0);
  // Plain HTTP/2 to the TLS port gets nowhere either.
  const plain = rawClients(address);
  try {
    await call(plain.maintenance, 'Status', {});
    assert.unreachable('plaintext on TLS');
  } catch (error) {
    assert.is((error as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
  } finally {
    plain.close();
  }
  // The server is still fine.
  const ok = rawClients(
    named,
    grpc.credentials.createSsl(pem('ca.crt'), pem('client.key'), pem('client.crt')),
  );
  try {
    const status = await call(ok.health, 'Check', { service: '' });
    assert.is(status.status, 1);
  } finally {
    ok.close();
  }
});

test('connections are dropped on stop; the listener port is released', async () => {
  const backend = new LocalBackend();
  const server = new EtcdServer({ backend, logger: quietLogger, limits: { stopGraceMs: 200 } });
  const [bound] = await server.listen({ tcp: { host: '127.0.0.1', port: 0 } });
  const clients = rawClients(`127.0.0.1:${bound!.port}`);
  const watch = clients.watch.Watch();
  watch.on('error', () => {});
  watch.write({ create_request: { key: Buffer.from('k') } });
  await new Promise((r) => watch.once('data', r));
  const ended = new Promise((r) => watch.once('end', r));
  await server.stop();
  await ended;
  clients.close();
  backend.close();
  await new Promise<void>((resolve, reject) => {
    const probe = net.connect(bound!.port!, '127.0.0.1');
    probe.once('connect', () => reject(new Error('still listening')));
    probe.once('error', () => resolve());
  });
});

test.run();
