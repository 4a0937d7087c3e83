/** Processes this code starts and stops by pid (never by name). */
import { setTimeout as sleep } from 'node:timers/promises';

/** Whether `pid` names a live process (EPERM: it exists but belongs to someone else). */
export function isProcessAlive(pid: number): boolean {
  if (!(Number.isInteger(pid) && pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Wait (bounded) until `pid` has exited; true if it did. */
export async function waitProcessExit(pid: number, timeoutMs: number, pollMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isProcessAlive(pid)) return true;
    await sleep(pollMs);
  }
  return !isProcessAlive(pid);
}

/** A UTC time stamp for backup names: 20261124T165432Z (sortable, no ':' in file names). */
export function utcStamp(at: Date = new Date()): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}
