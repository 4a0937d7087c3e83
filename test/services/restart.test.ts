// Restart outside a snap: what is not running here, or not installed here, is a result (the
// other nodes and services go on), a daemon started here that died is started again, and a pid
// file naming some other process is never signalled.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolvePaths } from '../../src/lib/paths.js';
import { isProcessAlive } from '../../src/lib/process.js';
import { servicePidFile } from '../../src/services/catalog.js';
import { restartService } from '../../src/services/restart.js';

const home = mkdtempSync(join(tmpdir(), 'mk8s-restart-'));
const paths = resolvePaths({ MICROK8S_HOME: home });
const env = { MICROK8S_HOME: home };
test.after(() => rmSync(home, { recursive: true, force: true }));

test('upstream services of a node that is not started: not running (the supervisor starts them)', async () => {
  for (const name of ['kube-apiserver', 'containerd'] as const) {
    const r = await restartService(paths, name, { env });
    assert.is(r.kind, 'not-running');
  }
});

test('no pid file: not running here; a dead pid (started here, then it died): started again', async () => {
  assert.is((await restartService(paths, 'datastore', { env })).kind, 'not-running');
  mkdirSync(paths.run, { recursive: true });
  writeFileSync(servicePidFile(paths, 'datastore'), '999999999\n');
  let started: number | undefined;
  const r = await restartService(paths, 'datastore', {
    env,
    waitReady: async (pid) => {
      started = pid;
    },
  });
  assert.is(r.kind, 'restarted');
  assert.ok(started !== undefined && started !== 999999999);
  // It has no args file here, so it exits at once; stop it by its pid if it has not yet.
  try {
    process.kill(started!, 'SIGKILL');
  } catch {
    // already gone
  }
});

test('a pid file naming another process: left alone', async () => {
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  try {
    writeFileSync(servicePidFile(paths, 'apiserver-proxy'), `${other.pid}\n`);
    const r = await restartService(paths, 'apiserver-proxy', { env });
    assert.is(r.kind, 'not-running');
    assert.ok(isProcessAlive(other.pid!), 'never signalled');
  } finally {
    other.kill('SIGKILL');
  }
});

test('the agent does not restart itself', async () => {
  writeFileSync(servicePidFile(paths, 'cluster-agent'), `${process.pid}\n`);
  assert.is((await restartService(paths, 'cluster-agent', { env })).kind, 'skipped');
});

test.run();
