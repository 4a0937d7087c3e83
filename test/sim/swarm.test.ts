// The seeded fault simulator as a test: a few hundred seeds, each with its own fault mix.
// A failure names the seed and the one command that replays it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { replayCommand, runSeed } from './swarm.js';

const SEEDS = Number(process.env.SIM_SEEDS ?? 400);

test(`${SEEDS} seeds with faults: no invariant or linearizability violation, progress after healing`, () => {
  const failures: string[] = [];
  let steps = 0;
  let operations = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = runSeed(seed);
    steps += r.steps;
    operations += r.operations;
    if (!r.ok) failures.push(`seed ${seed}: ${r.violation}\n    replay: ${replayCommand(seed)}`);
  }
  console.log(`  simulated ${SEEDS} seeds, ${steps} steps, ${operations} client operations`);
  assert.equal(failures, [], failures.join('\n'));
});

test('a replay is bit for bit identical', () => {
  for (const seed of [3, 17, 99]) {
    const a = runSeed(seed);
    const b = runSeed(seed);
    assert.is(a.trace, b.trace, `seed ${seed} trace`);
    assert.equal(a.stats, b.stats, `seed ${seed} stats`);
    assert.is(a.steps, b.steps);
  }
  assert.is.not(runSeed(3).trace, runSeed(4).trace, 'different seeds differ');
});

test.run();
