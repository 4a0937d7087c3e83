/**
 * Whether a recorded process is still the one that was recorded. A pid alone is not enough: once
 * a process exits, the kernel may give its pid to any new process, and a stale pid file would
 * then make us report (or signal) a stranger. A process is named by its pid plus its start time
 * (field 22 of /proc/PID/stat, in clock ticks since boot, fixed for the process's life), or, where
 * only a pid was recorded, by the command it runs.
 */
import { readFileSync } from 'node:fs';
import { isProcessAlive } from '../lib/process.js';

export interface ProcessIdentity {
  readonly pid: number;
  /** Start time in clock ticks since boot; absent where /proc is not there (not Linux). */
  readonly startTicks?: number;
}

/** What a recorded pid must also match to count as the recorded process. */
export interface ProcessExpectation {
  readonly startTicks?: number;
  /** Words the process's command line holds in this order (e.g. `run.js datastore run`). */
  readonly command?: readonly string[];
}

/** The start time of `pid` from /proc, or undefined when it does not run (or there is no /proc). */
export function processStartTicks(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "PID (comm) S ..." where comm may hold spaces and ')': the fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[19]); // field 22 overall; the 20th after "pid (comm)"
  return Number.isSafeInteger(ticks) ? ticks : undefined;
}

/** A process that exited and waits to be reaped (state Z): it runs nothing any more. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) === 'Z';
  } catch {
    return false;
  }
}

/** The identity of a running process (for a record or a pid file), undefined when it does not run. */
export function identifyProcess(pid: number): ProcessIdentity | undefined {
  if (!isProcessAlive(pid)) return undefined;
  const startTicks = processStartTicks(pid);
  return startTicks === undefined ? { pid } : { pid, startTicks };
}

function commandLine(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

function runsCommand(words: readonly string[], command: readonly string[]): boolean {
  const at = words.indexOf(command[0]!);
  return at >= 0 && command.every((word, i) => words[at + i] === word);
}

/**
 * The one liveness check of a recorded process: alive, and (when known) started at the recorded
 * time and running the expected command. Without /proc (not Linux) only the pid can be checked.
 */
export function isRecordedProcessAlive(pid: number, expect: ProcessExpectation = {}): boolean {
  if (!isProcessAlive(pid) || isZombie(pid)) return false;
  if (expect.startTicks !== undefined) {
    const ticks = processStartTicks(pid);
    if (ticks !== undefined && ticks !== expect.startTicks) return false;
  }
  if (expect.command !== undefined && expect.command.length > 0) {
    const words = commandLine(pid);
    if (words !== undefined && !runsCommand(words, expect.command)) return false;
  }
  return true;
}

/** A pid file's pid (its first line), or undefined when there is no file or no number in it. */
export function readPidFile(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}
