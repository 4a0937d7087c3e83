// Child process of crash.test.ts: appends to a DurableLog as fast as it can, several saves in
// flight at once (group commit), with a snapshot + compaction now and then, and prints one line
// per acknowledged save: "ack <last index> <term> <commit>". The parent SIGKILLs it at a random
// moment. It stops on its own after MAX_RUN_MS or MAX_ENTRIES, in case the parent is gone.
import { DurableLog } from '../../src/datastore/storage/durable-log.js';
import { createLogger } from '../../src/lib/log.js';
import { SeededRandom } from '../../src/lib/random.js';
import { crashEntryData as entryData } from './helpers.js';

const MAX_RUN_MS = 20_000;
const MAX_ENTRIES = 2_000_000;
const IN_FLIGHT = 8;
const SNAPSHOT_EVERY = 500;
const COMPACTION_LAG = 100;

async function main(): Promise<void> {
  const [dir, termArg, seedArg] = process.argv.slice(2);
  if (!dir || !termArg || !seedArg) throw new Error('usage: crash-writer <dir> <term> <seed>');
  const term = Number(termArg);
  const rng = new SeededRandom(Number(seedArg));
  const logger = createLogger('crash-writer', { level: 'error' });
  const log = await DurableLog.open(dir, { logger, segmentBytes: 64 * 1024 });
  const started = Date.now();
  let next = log.lastIndex() + 1;
  let lastSnapshot = log.snapshot().meta.index;
  const inFlight = new Set<Promise<void>>();
  while (Date.now() - started < MAX_RUN_MS && next < MAX_ENTRIES) {
    const count = 1 + rng.int(4);
    const entries = Array.from({ length: count }, (_, i) => {
      const size = rng.int(3) === 0 ? 1500 + rng.int(3000) : 10 + rng.int(200);
      return { index: next + i, term, type: 0 as const, data: entryData(next + i, term, size) };
    });
    const last = next + count - 1;
    next += count;
    const hardState = { term, vote: 1, commit: last };
    const p = log.save({ entries, hardState }).then(() => {
      process.stdout.write(`ack ${last} ${term} ${last}\n`);
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    if (last - lastSnapshot >= SNAPSHOT_EVERY) {
      await Promise.all(inFlight);
      await log.markSnapshot({ index: last, term, conf: { members: [{ id: 1, role: 'voter' }] } });
      await log.compact(last - COMPACTION_LAG);
      lastSnapshot = last;
    }
  }
  await Promise.all(inFlight);
  await log.close();
}

await main();
