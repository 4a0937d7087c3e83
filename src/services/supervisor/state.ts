/**
 * The supervisor's report, <run>/supervisor.json, rewritten atomically on every change. It is
 * the one place `status`, `start` and `inspect` learn what runs: each service's pid with its
 * start time (so a reused pid is never mistaken for it), its state, restarts and last exit.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { identifyProcess, isRecordedProcessAlive } from '../../node/process-identity.js';

export type ServiceRunState =
  | 'waiting'
  | 'starting'
  | 'ready'
  | 'backoff'
  | 'stopping'
  | 'stopped'
  | 'failed';

export interface ServiceReport {
  readonly name: string;
  readonly state: ServiceRunState;
  readonly pid?: number;
  readonly startTicks?: number;
  readonly restarts: number;
  readonly lastExit?: string;
  readonly since: string;
  /** What the prestart step could not do (host preparation), said rather than hidden. */
  readonly warnings: readonly string[];
}

export interface SupervisorReport {
  readonly pid: number;
  readonly startTicks?: number;
  readonly phase: 'starting' | 'running' | 'stopping' | 'stopped';
  readonly services: readonly ServiceReport[];
  readonly updated: string;
}

export function supervisorReportPath(runDir: string): string {
  return join(runDir, 'supervisor.json');
}

export function readSupervisorReport(runDir: string): SupervisorReport | undefined {
  try {
    return JSON.parse(readFileSync(supervisorReportPath(runDir), 'utf8')) as SupervisorReport;
  } catch {
    return undefined;
  }
}

/** The supervisor of this node when it still runs (the same process that wrote the report). */
export function runningSupervisor(runDir: string): SupervisorReport | undefined {
  const report = readSupervisorReport(runDir);
  if (!report || report.phase === 'stopped') return undefined;
  const alive = isRecordedProcessAlive(
    report.pid,
    report.startTicks === undefined ? {} : { startTicks: report.startTicks },
  );
  return alive ? report : undefined;
}

export function selfIdentity(): { pid: number; startTicks?: number } {
  return identifyProcess(process.pid) ?? { pid: process.pid };
}
