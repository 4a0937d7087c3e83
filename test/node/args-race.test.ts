// A placement change (what the datastore's admin /placement writes) and a `configure --set` (what
// the agent writes) land on the same args file at the same moment, from two processes, 100 times:
// both go through the one args writer (a read-modify-write under the node's lock), so neither
// update is ever lost.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readArgsFile } from '../../src/node/args-file.js';
import { startWorker, stopWorker, type Worker } from './fixtures/workers.js';

const dir = mkdtempSync(join(tmpdir(), 'mk8s-args-race-'));
const ROUNDS = 100;
const workers: Worker[] = [];
test.after(() => {
  for (const w of workers) stopWorker(w);
  rmSync(dir, { recursive: true, force: true });
});

test(`placement and configure --set on one args file, ${ROUNDS} times: neither update is lost`, async () => {
  const file = join(dir, 'datastore');
  writeFileSync(file, '# datastore args\n--id=1\n--failure-domain=a\n--weight=1\n--snapshot-entries=100\n');
  const [placement, configure] = [startWorker(), startWorker()];
  workers.push(placement, configure);
  await Promise.all([placement.next(), configure.next()]);
  for (let round = 0; round < ROUNDS; round++) {
    const domain = `dc${round}`;
    const entries = String(1000 + round);
    await Promise.all([
      placement.send({
        op: 'edit',
        path: file,
        set: { 'failure-domain': domain, weight: String(round % 7) },
      }),
      configure.send({ op: 'edit', path: file, set: { 'snapshot-entries': entries } }),
    ]);
    const flags = readArgsFile(file);
    assert.equal(flags.get('failure-domain'), [domain], `round ${round}: the placement landed`);
    assert.equal(flags.get('weight'), [String(round % 7)], `round ${round}`);
    assert.equal(flags.get('snapshot-entries'), [entries], `round ${round}: the configure edit landed`);
    assert.equal(flags.get('id'), ['1']);
  }
});

test.run();
