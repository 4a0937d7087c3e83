/**
 * Memory settings of the datastore daemon's Node.js runtime, in one place.
 *
 * DATASTORE_NODE_FLAGS go on the command line of every spawner of `datastore run` (the lab's
 * spawnNode, and services/spawn.ts daemonCommand, which the join flow, leave, restarts and the
 * printed start commands use): V8 sizes its young generation when the heap is set up, so this one cannot
 * be changed from inside the process. tuneDatastoreHeap() is called by the daemon itself, before
 * it loads anything heavy, so no spawner needs to know about it.
 *
 * Figures: 3-node lab on a 2-core machine, `npm run bench -- memory` (20k keys of 1 KiB, then put
 * and kube update Txns at concurrency 64).
 */
import { setFlagsFromString } from 'node:v8';

/**
 * Semi-spaces of 4 MB, not Node's default (up to 32 MB on 64-bit: 64 MB of young generation):
 * peak RSS ~15% lower with writes/s unchanged; 2 MB cost ~30% of the writes/s at concurrency 16.
 */
export const DATASTORE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/**
 * The old generation may grow by half between full collections (V8's own factor goes up to 4x
 * under a high allocation rate). Under load the live heap stays ~11-20 MB, but V8 let it commit
 * ~65 MB: with the factor fixed at 1.5, peak RSS per node went from ~197 MB to ~144 MB, idle
 * unchanged, writes/s within the noise of the machine. A smaller factor (1.2) saved no more.
 * Only the collector's schedule changes, never a limit: a larger live heap still fits.
 */
const HEAP_GROWING_PERCENT = 50;

/** Settings V8 reads while it runs: call once, early in the daemon's process. */
export function tuneDatastoreHeap(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
