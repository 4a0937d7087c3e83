/**
 * The clock lease reads are timed with (see RaftConfig.now): it must never run behind real time.
 * performance.now() (CLOCK_MONOTONIC) stops while the host is suspended, so a leader whose host
 * slept would wake up trusting a lease that ran out long ago; the wall clock keeps counting
 * across a suspend, but NTP may step it either way. This clock advances by the larger of the two
 * steps since its last reading, a wall clock that went back counting as no step: it may run fast
 * (a lease ends early and reads fall back to a round of heartbeats), never slow.
 */
export function suspendAwareClock(
  monotonic: () => number = () => performance.now(),
  wall: () => number = () => Date.now(),
): () => number {
  let lastMonotonic = monotonic();
  let lastWall = wall();
  let value = 0;
  return () => {
    const m = monotonic();
    const w = wall();
    value += Math.max(m - lastMonotonic, w - lastWall, 0);
    lastMonotonic = m;
    lastWall = w;
    return value;
  };
}
