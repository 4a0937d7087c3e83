// The clock of lease reads never runs behind real time: a suspended host (monotonic clock
// stopped, wall clock on) advances it; a wall clock stepped back does not slow it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { suspendAwareClock } from '../../src/datastore/node/read-lease-clock.js';

function clocks() {
  const t = { mono: 1000, wall: 5_000_000 };
  return {
    t,
    clock: suspendAwareClock(
      () => t.mono,
      () => t.wall,
    ),
  };
}

test('both clocks advance together: it follows them', () => {
  const { t, clock } = clocks();
  assert.is(clock(), 0);
  t.mono += 100;
  t.wall += 100;
  assert.is(clock(), 100);
});

test('a suspend (monotonic stopped, wall clock on): it advances by the wall clock', () => {
  const { t, clock } = clocks();
  clock();
  t.wall += 30_000;
  t.mono += 1;
  assert.is(clock(), 30_000);
});

test('a wall clock stepped back: it advances by the monotonic clock only', () => {
  const { t, clock } = clocks();
  clock();
  t.wall -= 60_000;
  t.mono += 50;
  assert.is(clock(), 50);
  t.wall += 10;
  t.mono += 10;
  assert.is(clock(), 60);
});
test.run();
