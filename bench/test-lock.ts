/**
 * Heavy runs (whole Kubernetes nodes, datastore clusters) take the machine's test lock so that
 * they never overlap: `flock <tmp>/mk8s-test.lock`. A caller may already hold it (`flock ... npm
 * run bench -- kube`, as the tests are run); taking it again from here would then wait forever,
 * so the lock is taken only when no ancestor of this process holds it (/proc/locks names the
 * holder's pid).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TEST_LOCK = join(tmpdir(), 'mk8s-test.lock');

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/** Whether a process above this one holds a flock on `file`. */
export function heldByAncestor(file: string): boolean {
  closeSync(openSync(file, 'a'));
  const inode = statSync(file).ino;
  const holders = readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[1] === 'FLOCK' && Number(f[5]?.split(':')[2]) === inode)
    .map((f) => Number(f[4]));
  const ancestors = new Set<number>();
  for (let pid = process.ppid, i = 0; pid > 1 && i < 64; pid = parentOf(pid), i++) ancestors.add(pid);
  return holders.some((pid) => ancestors.has(pid));
}

/**
 * Returns when this process may run (an ancestor holds the lock); otherwise runs this same
 * command again under `flock` (waiting for the lock) and exits with its code.
 */
export async function underTestLock(): Promise<void> {
  if (heldByAncestor(TEST_LOCK)) return;
  console.error(`waiting for ${TEST_LOCK}`);
  // A process group of its own, so that a signal reaches flock and the run under it alike.
  const child = spawn('flock', [TEST_LOCK, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true,
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => {
      if (child.pid) process.kill(-child.pid, signal);
    });
  }
  const code = await new Promise<number>((resolveExit) =>
    child.on('exit', (c, s) => resolveExit(c ?? (s ? 1 : 0))),
  );
  process.exit(code);
}
