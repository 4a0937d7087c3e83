/**
 * The supervisor of a node's daemons outside a snap (in a snap, snapd does this job). It starts
 * each daemon once the daemons it depends on are ready, keeps probing it, restarts one that
 * died with a bounded, doubling backoff, appends each daemon's output to <logs>/<name>.log,
 * and on stop takes them down in reverse order, each with SIGTERM, a bounded wait, then
 * SIGKILL of its whole process group. It writes its report (state.ts) on every change.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { assert } from '../../lib/assert.js';
import { MicroK8sError } from '../../lib/errors.js';
import { openLogFile } from '../../lib/file-modes.js';
import type { Logger } from '../../lib/log.js';
import { isProcessAlive } from '../../lib/process.js';
import { writeFileAtomicSync } from '../../node/atomic-write.js';
import { identifyProcess } from '../../node/process-identity.js';
import type { ControlAction, ControlResult } from './control.js';
import { probeOnce } from './probes.js';
import { type DaemonSpec, SUPERVISOR_LIMITS } from './spec.js';
import {
  type ServiceReport,
  type ServiceRunState,
  type SupervisorReport,
  selfIdentity,
  supervisorReportPath,
} from './state.js';

interface Runner {
  readonly spec: DaemonSpec;
  state: ServiceRunState;
  child?: ChildProcess;
  pid?: number;
  startTicks?: number;
  restarts: number;
  crashesInARow: number;
  lastExit?: string;
  since: Date;
  warnings: string[];
  exited?: Promise<void>;
  /** Stopped on request (control socket): not restarted until started again. */
  held: boolean;
  restartTimer?: NodeJS.Timeout;
}

/** Dependencies first; a cycle or an unknown name is a programming error in the catalog. */
export function startOrder(specs: readonly DaemonSpec[]): DaemonSpec[] {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const order: DaemonSpec[] = [];
  const visiting = new Set<string>();
  const visit = (spec: DaemonSpec) => {
    if (order.includes(spec)) return;
    assert(!visiting.has(spec.name), `dependency cycle at ${spec.name}`);
    visiting.add(spec.name);
    for (const dep of spec.dependsOn) {
      const depSpec = byName.get(dep);
      assert(depSpec !== undefined, `${spec.name} depends on unknown service ${dep}`);
      visit(depSpec);
    }
    visiting.delete(spec.name);
    order.push(spec);
  };
  for (const spec of specs) visit(spec);
  return order;
}

export interface SupervisorOptions {
  readonly runDir: string;
  readonly logDir: string;
  readonly log: Logger;
  /** Work after every daemon is down (containers and their shims). */
  readonly afterStop?: () => Promise<string[]>;
}

export class Supervisor {
  readonly #runners: Runner[];
  readonly #options: SupervisorOptions;
  #phase: SupervisorReport['phase'] = 'starting';
  #stopping = false;

  constructor(specs: readonly DaemonSpec[], options: SupervisorOptions) {
    this.#options = options;
    this.#runners = startOrder(specs).map((spec) => ({
      spec,
      state: 'waiting',
      restarts: 0,
      crashesInARow: 0,
      since: new Date(),
      warnings: [],
      held: false,
    }));
    mkdirSync(options.runDir, { recursive: true });
    mkdirSync(options.logDir, { recursive: true });
  }

  /** Starts every runner; resolves once each has been started once (ready or not). */
  async start(): Promise<void> {
    this.#publish();
    const firstStarts = this.#runners.map((runner) => this.#run(runner));
    await Promise.all(firstStarts);
    if (!this.#stopping) this.#phase = 'running';
    this.#publish();
  }

  report(): SupervisorReport {
    const self = selfIdentity();
    return {
      ...self,
      phase: this.#phase,
      updated: new Date().toISOString(),
      services: this.#runners.map(
        (r): ServiceReport => ({
          name: r.spec.name,
          state: r.state,
          ...(r.pid === undefined ? {} : { pid: r.pid }),
          ...(r.startTicks === undefined ? {} : { startTicks: r.startTicks }),
          restarts: r.restarts,
          ...(r.lastExit === undefined ? {} : { lastExit: r.lastExit }),
          since: r.since.toISOString(),
          warnings: r.warnings,
        }),
      ),
    };
  }

  #publish(): void {
    writeFileAtomicSync(
      supervisorReportPath(this.#options.runDir),
      `${JSON.stringify(this.report(), null, 2)}\n`,
    );
  }

  #setState(runner: Runner, state: ServiceRunState): void {
    if (runner.state === state) return;
    runner.state = state;
    runner.since = new Date();
    this.#options.log.info(
      `${runner.spec.name}: ${state}`,
      runner.pid === undefined ? {} : { pid: runner.pid },
    );
    this.#publish();
  }

  #runner(name: string): Runner {
    const runner = this.#runners.find((r) => r.spec.name === name);
    assert(runner !== undefined, `no runner ${name}`);
    return runner;
  }

  async #waitForDependencies(runner: Runner): Promise<void> {
    const deadline = Date.now() + SUPERVISOR_LIMITS.dependencyWaitMs;
    for (const dep of runner.spec.dependsOn) {
      while (!this.#stopping && this.#runner(dep).state !== 'ready' && Date.now() < deadline) {
        await sleep(200);
      }
    }
  }

  /** The first start of a runner; later restarts are driven by its exit handler. */
  async #run(runner: Runner): Promise<void> {
    await this.#waitForDependencies(runner);
    if (this.#stopping) return;
    await this.#spawn(runner);
  }

  #openLog(name: string): number {
    const path = join(this.#options.logDir, `${name}.log`);
    try {
      if (statSync(path).size > SUPERVISOR_LIMITS.logRotateBytes) renameSync(path, `${path}.1`);
    } catch {
      // No log yet.
    }
    return openLogFile(path);
  }

  async #spawn(runner: Runner): Promise<void> {
    const { spec } = runner;
    this.#setState(runner, 'starting');
    if (spec.prestart) {
      try {
        runner.warnings = await spec.prestart();
      } catch (error) {
        runner.warnings = [`prestart failed: ${(error as Error).message}`];
      }
      for (const warning of runner.warnings) this.#options.log.warn(`${spec.name}: ${warning}`);
    }
    let argv: readonly string[];
    try {
      argv = spec.command();
    } catch (error) {
      // A broken args file: said in the report, tried again with the backoff.
      argv = [];
      runner.warnings = [...runner.warnings, (error as Error).message];
    }
    const out = this.#openLog(spec.name);
    let child: ChildProcess;
    try {
      const [command, ...args] = argv.length > 0 ? argv : ['/nonexistent/args-file-error'];
      child = spawn(command!, args, {
        detached: true, // its own process group: a stop takes its children too
        stdio: ['ignore', out, out],
        env: { ...process.env, ...spec.env },
      });
    } finally {
      closeSync(out);
    }
    runner.child = child;
    runner.exited = new Promise((resolveExit) => {
      let finished = false;
      const finish = (why: string) => {
        if (finished) return;
        finished = true;
        runner.lastExit = why;
        runner.child = undefined;
        resolveExit();
        this.#onExit(runner);
      };
      // A binary that cannot be started (missing, not executable) has no pid and may never exit.
      child.once('error', (error) => {
        if (child.pid === undefined) finish(`could not start: ${error.message}`);
      });
      child.once('exit', (code, signal) => finish(signal ? `killed by ${signal}` : `exit code ${code}`));
    });
    runner.pid = child.pid;
    runner.startTicks = child.pid === undefined ? undefined : identifyProcess(child.pid)?.startTicks;
    if (child.pid !== undefined) {
      writeFileAtomicSync(join(this.#options.runDir, `${spec.name}.pid`), `${child.pid}\n`);
    }
    this.#publish();
    void this.#probeLoop(runner, child);
  }

  async #probeLoop(runner: Runner, child: ChildProcess): Promise<void> {
    const startedAt = Date.now();
    while (runner.child === child && !this.#stopping) {
      let ok = await probeOnce(runner.spec.probe);
      if (runner.child !== child || this.#stopping) return;
      if (ok && runner.state !== 'ready') ok = await this.#readyWork(runner);
      if (runner.child !== child || this.#stopping) return;
      if (ok) {
        if (runner.state !== 'ready') this.#setState(runner, 'ready');
        if (Date.now() - startedAt > SUPERVISOR_LIMITS.healthyRunResetMs) runner.crashesInARow = 0;
      } else if (runner.state === 'ready') {
        this.#setState(runner, 'starting');
      }
      await sleep(ok ? SUPERVISOR_LIMITS.probeReadyEveryMs : SUPERVISOR_LIMITS.probeEveryMs);
    }
  }

  /** The spec's onReady work; false (not ready yet) while it fails, each new failure logged. */
  async #readyWork(runner: Runner): Promise<boolean> {
    const { onReady, name } = runner.spec;
    if (!onReady) return true;
    try {
      this.#options.log.info(`${name}: ${await onReady()}`);
      return true;
    } catch (error) {
      const warning = `on ready: ${(error as Error).message}`;
      if (!runner.warnings.includes(warning)) {
        runner.warnings = [...runner.warnings, warning];
        this.#options.log.warn(`${name}: ${warning}`);
        this.#publish();
      }
      return false;
    }
  }

  #onExit(runner: Runner): void {
    // What the dead daemon started in its process group goes with it, so a restart starts clean.
    if (runner.pid !== undefined) signalGroup(runner.pid, 'SIGKILL');
    runner.pid = undefined;
    runner.startTicks = undefined;
    if (this.#stopping || runner.held) {
      this.#setState(runner, 'stopped');
      return;
    }
    runner.crashesInARow++;
    runner.restarts++;
    const delay = Math.min(
      SUPERVISOR_LIMITS.restartBackoffMaxMs,
      SUPERVISOR_LIMITS.restartBackoffFirstMs * 2 ** (runner.crashesInARow - 1),
    );
    this.#options.log.warn(`${runner.spec.name} exited (${runner.lastExit}); restarting in ${delay} ms`);
    this.#setState(runner, 'backoff');
    runner.restartTimer = setTimeout(() => {
      runner.restartTimer = undefined;
      if (this.#stopping || runner.held) return;
      void this.#spawn(runner);
    }, delay);
    runner.restartTimer.unref();
  }

  /** Every daemon down, dependents first; then the afterStop work. Bounded by the specs' waits. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#phase = 'stopping';
    this.#publish();
    for (const runner of [...this.#runners].reverse()) await this.#stopRunner(runner);
    if (this.#options.afterStop) {
      try {
        const notes = await this.#options.afterStop();
        for (const note of notes) this.#options.log.info(note);
      } catch (error) {
        this.#options.log.error('cleanup after stop failed', { error: (error as Error).message });
      }
    }
    this.#phase = 'stopped';
    this.#publish();
  }

  async #stopRunner(runner: Runner): Promise<boolean> {
    const pid = runner.pid;
    if (runner.restartTimer) clearTimeout(runner.restartTimer);
    runner.restartTimer = undefined;
    if (pid === undefined || runner.child === undefined) {
      this.#setState(runner, 'stopped');
      return false;
    }
    this.#setState(runner, 'stopping');
    signalGroup(pid, 'SIGTERM');
    const exited = await Promise.race([
      runner.exited!.then(() => true),
      sleep(runner.spec.stopTimeoutMs).then(() => false),
    ]);
    if (!exited) {
      this.#options.log.warn(`${runner.spec.name} did not stop in ${runner.spec.stopTimeoutMs} ms; SIGKILL`);
    }
    // The group too: whatever the daemon started and left behind.
    signalGroup(pid, 'SIGKILL');
    await runner.exited;
    this.#setState(runner, 'stopped');
    return !exited;
  }

  /** One service stopped (and held down), started, or restarted, on request. */
  async control(service: string, action: ControlAction): Promise<ControlResult> {
    const runner = this.#runners.find((r) => r.spec.name === service);
    if (!runner) {
      throw new MicroK8sError('MK_SERVICE_UNKNOWN', `this node's supervisor runs no service '${service}'`, {
        service,
      });
    }
    if (this.#stopping) throw new MicroK8sError('MK_STOPPED', 'the node is stopping');
    let stopped: { pid?: number; killed: boolean } = { killed: false };
    if (action === 'stop' || action === 'restart') {
      runner.held = true;
      const pid = runner.pid;
      const killed = await this.#stopRunner(runner);
      stopped = pid === undefined ? { killed } : { pid, killed };
      this.#options.log.info(`${service} stopped on request`);
      if (action === 'stop') return { service, action, ...stopped };
    }
    runner.held = false;
    if (runner.restartTimer) clearTimeout(runner.restartTimer);
    runner.restartTimer = undefined;
    if (runner.child === undefined) {
      runner.crashesInARow = 0;
      await this.#spawn(runner);
    }
    return {
      service,
      action,
      ...(runner.pid === undefined ? {} : { pid: runner.pid }),
      killed: stopped.killed,
    };
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
    try {
      if (isProcessAlive(pid)) process.kill(pid, signal);
    } catch {
      // and so is the process
    }
  }
}
