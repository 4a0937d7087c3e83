/**
 * The supervisor with small real daemons (Node processes listening on unix sockets in a
 * temporary folder): dependency order, restart after SIGKILL, a binary that cannot start, and a
 * stop that leaves no process, the daemons' own children included. Waits are hang guards only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../src/lib/log.js';
import { isProcessAlive } from '../../src/lib/process.js';
import { requestControl, serveControl } from '../../src/services/supervisor/control.js';
import type { DaemonSpec } from '../../src/services/supervisor/spec.js';
import { readSupervisorReport } from '../../src/services/supervisor/state.js';
import { Supervisor, startOrder } from '../../src/services/supervisor/supervisor.js';

const HANG_GUARD_MS = 60_000;
const dir = mkdtempSync(join(tmpdir(), 'mk8s-supervisor-'));

/** A daemon that listens on `socket` after `delayMs`, and starts a child that sleeps forever. */
function daemon(name: string, dependsOn: string[] = [], delayMs = 100): DaemonSpec {
  const socket = join(dir, `${name}.sock`);
  const script = `
    const { spawn } = require('node:child_process');
    spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    require('node:fs').rmSync(${JSON.stringify(socket)}, { force: true }); // a killed one's socket stays
    setTimeout(() => require('node:net').createServer().listen(${JSON.stringify(socket)}), ${delayMs});
    process.on('SIGTERM', () => process.exit(0));`;
  return {
    name,
    command: () => [process.execPath, '-e', script],
    dependsOn,
    probe: { kind: 'unix', path: socket },
    stopTimeoutMs: 5_000,
  };
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + HANG_GUARD_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within the hang guard`);
    await sleep(50);
  }
}

function service(name: string) {
  return readSupervisorReport(join(dir, 'run'))!.services.find((s) => s.name === name)!;
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('startOrder puts dependencies first and refuses a cycle', () => {
  const order = startOrder([daemon('c', ['b']), daemon('b', ['a']), daemon('a')]).map((s) => s.name);
  assert.equal(order, ['a', 'b', 'c']);
  assert.throws(() => startOrder([daemon('x', ['y']), daemon('y', ['x'])]), /cycle/);
});

test('start, restart after SIGKILL, a binary that cannot start, stop with nothing left', async () => {
  const missing: DaemonSpec = { ...daemon('missing'), command: () => [join(dir, 'no-such-binary')] };
  const supervisor = new Supervisor([daemon('late', ['early']), daemon('early', [], 500), missing], {
    runDir: join(dir, 'run'),
    logDir: join(dir, 'logs'),
    log: createLogger('test.supervisor'),
  });
  await supervisor.start();
  await until(
    'both daemons ready',
    () => service('early').state === 'ready' && service('late').state === 'ready',
  );
  // 'late' waited for 'early': it was started after 'early' was ready.
  assert.ok(Date.parse(service('late').since) >= Date.parse(service('early').since));
  assert.match(service('missing').lastExit ?? '', /could not start/);

  const first = service('early').pid!;
  process.kill(first, 'SIGKILL');
  await until('early restarted', () => service('early').state === 'ready' && service('early').pid !== first);
  assert.is(service('early').restarts, 1);
  assert.match(service('early').lastExit ?? '', /SIGKILL/);

  // Through the control socket, as `configure --restart` does: stopped and held down, then started.
  const control = await serveControl(join(dir, 'run'), supervisor);
  const held = await requestControl(join(dir, 'run'), 'late', 'stop');
  assert.ok(held.pid !== undefined && !isProcessAlive(held.pid));
  await sleep(1_500); // longer than the first backoff: a held service is not restarted
  assert.is(service('late').state, 'stopped');
  assert.is(service('late').pid, undefined);
  const again = await requestControl(join(dir, 'run'), 'late', 'start');
  assert.ok(again.pid !== undefined && again.pid !== held.pid);
  await until('late ready again', () => service('late').state === 'ready');
  const unknown = await requestControl(join(dir, 'run'), 'nope', 'restart').catch((error: Error) => error);
  assert.instance(unknown, Error);
  assert.match((unknown as Error).message, /no service 'nope'/);
  control.close();

  const pids = [service('early').pid!, service('late').pid!];
  await supervisor.stop();
  assert.is(readSupervisorReport(join(dir, 'run'))!.phase, 'stopped');
  for (const pid of pids) assert.not.ok(isProcessAlive(pid), `pid ${pid} still runs`);
  // The daemons' children went with their process groups.
  for (const pid of pids) {
    await until(`the group of ${pid} is gone`, () => {
      try {
        process.kill(-pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  }
});

test('a file probe; onReady runs before the daemon counts as ready, and a failing one is tried again', async () => {
  const runDir = join(dir, 'run-ready');
  const file = join(dir, 'written.env');
  const script = `
    setTimeout(() => require('node:fs').writeFileSync(${JSON.stringify(file)}, 'x'), 200);
    setInterval(() => {}, 1000);
    process.on('SIGTERM', () => process.exit(0));`;
  const statesSeen: string[] = [];
  const writer: DaemonSpec = {
    name: 'writer',
    command: () => [process.execPath, '-e', script],
    dependsOn: [],
    probe: { kind: 'file', path: file },
    onReady: async () => {
      statesSeen.push(readSupervisorReport(runDir)!.services[0]!.state);
      if (statesSeen.length === 1) throw new Error('the first try fails');
      return 'follow-up written';
    },
    stopTimeoutMs: 5_000,
  };
  const supervisor = new Supervisor([writer], {
    runDir,
    logDir: join(dir, 'logs'),
    log: createLogger('test.supervisor'),
  });
  await supervisor.start();
  const report = () => readSupervisorReport(runDir)!.services[0]!;
  await until('writer ready', () => report().state === 'ready');
  // Not ready while its work had not been done: the failure is a warning, the next probe retried.
  assert.equal(statesSeen, ['starting', 'starting']);
  assert.ok(
    report().warnings.some((w) => w.includes('the first try fails')),
    report().warnings.join('; '),
  );
  await supervisor.stop();
});

test.run();
