// Preloaded into lab nodes by `npm run bench -- memory --inside` (through NODE_OPTIONS=--import):
// every 500 ms the node writes its own view of its memory (V8 heap used and committed per space,
// external and array buffers, loaded module count) to $MK8S_MEMORY_REPORT_DIR/<pid>.json, so the
// probe can split RSS into V8 heap vs everything else. Never loaded by the daemon otherwise.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import v8 from 'node:v8';

const dir = process.env.MK8S_MEMORY_REPORT_DIR;
if (dir) {
  const peak = {};
  const mb = (n) => Math.round((n / 1048576) * 10) / 10;
  const report = () => {
    const usage = process.memoryUsage();
    const heap = v8.getHeapStatistics();
    const now = {
      rss: mb(usage.rss),
      heapUsed: mb(usage.heapUsed),
      heapCommitted: mb(heap.total_physical_size),
      external: mb(usage.external),
      arrayBuffers: mb(usage.arrayBuffers),
      malloced: mb(heap.malloced_memory),
      spaces: Object.fromEntries(
        v8
          .getHeapSpaceStatistics()
          .map((s) => [s.space_name, { used: mb(s.space_used_size), committed: mb(s.physical_space_size) }]),
      ),
    };
    for (const k of ['rss', 'heapUsed', 'heapCommitted', 'external', 'arrayBuffers', 'malloced'])
      peak[k] = Math.max(peak[k] ?? 0, now[k]);
    writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify({ now, peak }));
  };
  setInterval(report, 500).unref();
}
