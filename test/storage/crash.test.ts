// A real crash: a child process appends to a DurableLog and reports each acknowledged save; it is
// SIGKILLed at a random moment; the reopened log must hold every acknowledged entry (a torn tail
// beyond them is fine). Several rounds on the same directory, each in a new term.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DurableLog } from '../../src/datastore/storage/durable-log.js';
import { SeededRandom } from '../../src/lib/random.js';
import { captureLogger, crashEntryData as entryData, removeDir, tempDir } from './helpers.js';

const WRITER = join(import.meta.dirname, 'crash-writer.ts');
const ROUNDS = 4;
/** The child is killed this long after its first acknowledgement, at random in [min, max). */
const KILL_AFTER_MS = { min: 150, max: 900 };
/** Bound on one round, whatever happens. */
const ROUND_TIMEOUT_MS = 20_000;

interface Acked {
  index: number;
  commit: number;
  lines: number;
}

/** Run the writer until killed; returns the highest acknowledged save. */
function runAndKill(dir: string, term: number, seed: number, rng: SeededRandom): Promise<Acked> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', WRITER, dir, String(term), String(seed)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const acked: Acked = { index: 0, commit: 0, lines: 0 };
    let buffered = '';
    let stderr = '';
    let killTimer: NodeJS.Timeout | undefined;
    const kill = () => {
      // By PID: only the child this test started.
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    };
    const guard = setTimeout(kill, ROUND_TIMEOUT_MS);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const [word, index, , commit] = line.split(' ');
        if (word !== 'ack') continue;
        acked.index = Math.max(acked.index, Number(index));
        acked.commit = Math.max(acked.commit, Number(commit));
        acked.lines++;
      }
      if (killTimer === undefined && acked.lines > 0) {
        killTimer = setTimeout(kill, KILL_AFTER_MS.min + rng.int(KILL_AFTER_MS.max - KILL_AFTER_MS.min));
      }
    });
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      clearTimeout(killTimer);
      if (signal !== 'SIGKILL')
        reject(new Error(`the writer exited by itself (${code}/${signal}): ${stderr}`));
      else resolve(acked);
    });
  });
}

test('every acknowledged save survives SIGKILL, round after round', async () => {
  const dir = await tempDir();
  const rng = new SeededRandom(20261124);
  try {
    let total = 0;
    let torn = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const acked = await runAndKill(dir, round, rng.int(1 << 30), rng);
      assert.ok(acked.lines > 0, 'the writer acknowledged saves before it was killed');
      const capture = captureLogger();
      const log = await DurableLog.open(dir, { logger: capture.logger, segmentBytes: 64 * 1024 });
      torn += capture.warnings().length;
      assert.ok(
        log.lastIndex() >= acked.index,
        `round ${round}: last ${log.lastIndex()} < acknowledged ${acked.index}`,
      );
      assert.ok(log.initialState().hardState.commit >= acked.commit, `round ${round}: commit went back`);
      // Every entry still in the log (acknowledged or not) is intact and in sequence.
      const first = log.firstIndex();
      assert.ok(first <= acked.index, `round ${round}: compacted past the acknowledged entries`);
      const all = log.entries(first, log.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
      for (const [i, e] of all.entries()) {
        assert.is(e.index, first + i);
        assert.ok(e.term >= 1 && e.term <= round);
        assert.equal(e.data, entryData(e.index, e.term, e.data.byteLength), `entry ${e.index} content`);
      }
      total += acked.lines;
      console.log(
        `  round ${round}: ${acked.lines} saves acknowledged up to ${acked.index}; reopened ${first}..${log.lastIndex()}, ${log.stats().segments} segments, ${capture.warnings().length} torn tail cut`,
      );
      await log.close();
    }
    assert.ok(total > ROUNDS, `${total} acknowledged saves over ${ROUNDS} rounds (${torn} torn tails cut)`);
  } finally {
    await removeDir(dir);
  }
});

test.run();
