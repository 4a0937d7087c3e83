/**
 * A datastore started by a caller whose umask is 022 on a --data-dir that does not exist yet:
 * every file and folder it creates (the data folder, the Raft log, the state database and its
 * WAL, the sockets, its own log) is closed to others. One real `datastore run` process.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureClusterCa, issueCertificate } from '../../src/cluster/pki.js';
import { packageRoot } from '../../src/lib/paths.js';
import { DATASTORE_NODE_FLAGS } from '../../src/lib/runtime-flags.js';
import { eventually } from './helpers.js';

const ADDRESS = '127.0.44.1';
const PEER_PORT = 2380;
const CLIENT_PORT = 2379;
/** Anti-hang guards; not timing claims. */
const READY_GUARD_MS = 60_000;
const EXIT_GUARD_MS = 30_000;

/** Every path under `root` (itself included) with its permission bits. */
function modes(root: string): { path: string; mode: number }[] {
  const out = [{ path: root, mode: statSync(root).mode & 0o777 }];
  for (const name of readdirSync(root, { recursive: true }) as string[]) {
    const path = join(root, name);
    out.push({ path, mode: statSync(path).mode & 0o777 });
  }
  return out;
}

test('a fresh --data-dir under umask 022: nothing readable by others', async () => {
  const previous = process.umask(0o022);
  const dir = mkdtempSync(join(tmpdir(), 'mk8s-modes-'));
  const dataDir = join(dir, 'fresh', 'data');
  const logDir = join(dir, 'logs');
  mkdirSync(logDir);
  const logFile = join(logDir, 'datastore.log');
  let pid: number | undefined;
  const client = new Etcd3({ hosts: `http://${ADDRESS}:${CLIENT_PORT}`, dialTimeout: 3000 });
  try {
    const ca = await ensureClusterCa(join(dir, 'certs'));
    const cert = await issueCertificate(ca, join(dir, 'certs', 'node1'), 'peer', {
      commonName: 'node-1',
      ips: [ADDRESS],
      dnsNames: ['node-1.peer.microk8s'],
      usage: 'peer',
    });
    const args = [
      '--id=1',
      '--name=node1',
      '--cluster-id=modes',
      `--data-dir=${dataDir}`,
      `--peer-listen=${ADDRESS}:${PEER_PORT}`,
      `--client-listen=${ADDRESS}:${CLIENT_PORT}`,
      `--client-unix=${join(dataDir, 'etcd.sock')}`,
      '--bootstrap=1=voter',
      `--ca-cert=${ca.certPath}`,
      `--cert=${cert.certPath}`,
      `--key=${cert.keyPath}`,
      `--peer=1=${ADDRESS}:${PEER_PORT},http://${ADDRESS}:${CLIENT_PORT},zone-1,0`,
    ];
    const child = spawn(
      process.execPath,
      [...DATASTORE_NODE_FLAGS, join(packageRoot(), 'bin', 'run.js'), 'datastore', 'run', ...args],
      { stdio: 'ignore', env: { ...process.env, MICROK8S_LOG_FILE: logFile } },
    );
    pid = child.pid;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // A write and a read: the database, its WAL and the Raft log exist by then.
    await eventually(
      async () => {
        await client.put('modes/a').value('secret');
        if ((await client.get('modes/a').string()) !== 'secret') throw new Error('not read back');
      },
      READY_GUARD_MS,
      'the datastore serving',
    );
    const files = [...modes(join(dir, 'fresh')), { path: logFile, mode: statSync(logFile).mode & 0o777 }];
    assert.ok(
      files.some((f) => f.path.endsWith('state.db')),
      'the state database is there',
    );
    const open = files.filter((f) => (f.mode & 0o007) !== 0);
    assert.equal(
      open.map((f) => `${f.path} ${f.mode.toString(8)}`),
      [],
      'no file or folder is readable, writable or searchable by others',
    );
    assert.is.not(statSync(logFile).mode & 0o777, 0o644, 'the log is not 0644');
    child.kill('SIGTERM');
    await Promise.race([
      exited,
      sleep(EXIT_GUARD_MS, undefined, { ref: false }).then(() => {
        throw new Error('the datastore did not stop');
      }),
    ]);
    pid = undefined;
  } finally {
    client.close();
    if (pid !== undefined) process.kill(pid, 'SIGKILL');
    process.umask(previous);
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
