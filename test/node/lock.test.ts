// The node's lock cannot be taken twice: an OS-level lock, dropped by the kernel when its holder
// dies. 8 processes race for a lock whose owner was just SIGKILLed, 200 times over, and each time
// exactly one of them holds it (the others give up after a wait far longer than a poll).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { acquireFileLock, withFileLock } from '../../src/node/lock.js';
import { startWorker, stopWorker, type Worker } from './fixtures/workers.js';

const dir = mkdtempSync(join(tmpdir(), 'mk8s-lock-'));
const RACERS = 8;
const ROUNDS = 200;
/** A racer that does not get the lock within this long has lost the round (the winner holds on). */
const LOSER_WAIT_MS = 200;
/** Owners are started ahead of their round, so a round does not wait for a process start. */
const OWNERS_AHEAD = 4;

const workers: Worker[] = [];
test.after(() => {
  for (const w of workers) stopWorker(w);
  rmSync(dir, { recursive: true, force: true });
});

test('in one process: a second taker waits, and gets it once the first lets go', async () => {
  const path = join(dir, 'local.lock');
  const order: string[] = [];
  const first = await acquireFileLock(path);
  const second = withFileLock(path, () => order.push('second'));
  await sleep(50);
  order.push('first releases');
  first.release();
  await second;
  assert.equal(order, ['first releases', 'second']);
  try {
    const again = await acquireFileLock(path);
    const timedOut = await acquireFileLock(path, 30).then(
      () => 'taken twice',
      (error: unknown) => (isMicroK8sError(error) ? error.code : String(error)),
    );
    again.release();
    assert.is(timedOut, 'MK_TIMEOUT');
  } finally {
    first.release();
  }
});

test('a lock file left by the pid-file lock of earlier versions is taken over', async () => {
  const path = join(dir, 'legacy.lock');
  writeFileSync(path, '999999999');
  await withFileLock(path, () => undefined, 1000);
});

test(`${RACERS} processes race for a lock whose owner was SIGKILLed: exactly one holds it, ${ROUNDS} times`, async () => {
  const path = join(dir, 'raced.lock');
  const racers = Array.from({ length: RACERS }, () => startWorker());
  workers.push(...racers);
  await Promise.all(racers.map((r) => r.next()));
  const owners: Worker[] = [];
  const refill = () => {
    while (owners.length < OWNERS_AHEAD) {
      const owner = startWorker();
      workers.push(owner);
      owners.push(owner);
    }
  };
  const winners = new Map<number, number>();
  for (let round = 0; round < ROUNDS; round++) {
    refill();
    const owner = owners.shift()!;
    await owner.next();
    assert.equal(
      await owner.send({ op: 'lock', path, waitMs: 5000 }),
      { held: true },
      `round ${round}: owner`,
    );
    const answers = racers.map((r) => r.send({ op: 'lock', path, waitMs: LOSER_WAIT_MS }));
    owner.child.kill('SIGKILL');
    const results = await Promise.all(answers);
    const holders = results.flatMap((a, i) => (a.held ? [i] : []));
    assert.is(holders.length, 1, `round ${round}: holders ${JSON.stringify(results)}`);
    for (const a of results) if (!a.held) assert.is(a.code, 'MK_TIMEOUT');
    winners.set(holders[0]!, (winners.get(holders[0]!) ?? 0) + 1);
    assert.equal(await racers[holders[0]!]!.send({ op: 'release' }), { released: true });
  }
  for (const owner of owners) stopWorker(owner);
  console.log(
    `lock race: ${ROUNDS} rounds, exactly one holder each; wins per racer ${JSON.stringify([...winners])}`,
  );
});

test.run();
