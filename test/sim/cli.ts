// The simulator's command line:
//   npm run sim -- --seeds 500            run seeds 1..500 (or --start S for S..S+N-1)
//   npm run sim -- --seed 42 [--verbose]  replay one seed, bit for bit
// Every failing seed is printed with the exact command that replays it.
import { parseArgs } from 'node:util';
import { replayCommand, runSeed } from './swarm.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '100' },
    start: { type: 'string', default: '1' },
    seed: { type: 'string' },
    'fault-ticks': { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});

const faultTicks = values['fault-ticks'] ? Number(values['fault-ticks']) : undefined;
const seeds =
  values.seed !== undefined
    ? [Number(values.seed)]
    : Array.from({ length: Number(values.seeds) }, (_, i) => Number(values.start) + i);
for (const s of seeds) {
  if (!Number.isInteger(s) || s < 0) {
    console.error(`invalid seed ${s}`);
    process.exit(2);
  }
}

const started = performance.now();
let steps = 0;
let operations = 0;
const failures: { seed: number; violation: string }[] = [];
for (const seed of seeds) {
  const r = runSeed(seed, {
    ...(faultTicks === undefined ? {} : { faultTicks }),
    explain: seeds.length === 1,
  });
  steps += r.steps;
  operations += r.operations;
  if (values.verbose || seeds.length === 1) {
    console.log(
      `seed ${seed}: ${r.ok ? 'ok' : 'FAIL'} trace=${r.trace.toString(16)} steps=${r.steps} ops=${r.operations} ${r.profile}`,
    );
    console.log(`  ${JSON.stringify(r.stats)}`);
  }
  if (!r.ok) {
    failures.push({ seed, violation: r.violation ?? 'unknown' });
    console.log(`FAIL seed ${seed}: ${r.violation}\n  replay: ${replayCommand(seed)}`);
  }
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `${seeds.length} seeds, ${steps} steps (sub-ticks), ${operations} client operations checked, ${failures.length} violations, ${seconds.toFixed(1)} s`,
);
process.exit(failures.length === 0 ? 0 : 1);
