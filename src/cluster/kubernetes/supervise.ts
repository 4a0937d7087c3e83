/**
 * `microk8s supervisor run`: the long-lived process that `start` leaves behind. It runs the
 * node's daemons until SIGTERM or SIGINT, then stops them all and cleans up containers.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { createLogger } from '../../lib/log.js';
import type { Paths } from '../../lib/paths.js';
import { resolveUpstreamPaths } from '../../lib/upstream-paths.js';
import { controlSocketPath, serveControl } from '../../services/supervisor/control.js';
import { Supervisor } from '../../services/supervisor/supervisor.js';
import { cleanupAfterStop } from '../../services/upstream/cleanup.js';
import { upstreamLayout } from '../../services/upstream/layout.js';
import { nodeDaemons } from './node-daemons.js';

export async function runSupervisor(paths: Paths): Promise<void> {
  const log = createLogger('supervisor');
  mkdirSync(paths.run, { recursive: true });
  const supervisor = new Supervisor(nodeDaemons(paths), {
    runDir: paths.run,
    logDir: paths.logs,
    log,
    afterStop: () => cleanupAfterStop(resolveUpstreamPaths(), upstreamLayout(paths)),
  });
  let stopRequested = false;
  const stopped = new Promise<void>((resolveStopped) => {
    const onSignal = (signal: string) => {
      log.info(`${signal}: stopping every service`);
      if (stopRequested) return;
      stopRequested = true;
      void supervisor.stop().then(resolveStopped);
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGHUP', () => log.info('SIGHUP ignored'));
  });
  // A socket left by a supervisor that died; this one is the node's supervisor now.
  rmSync(controlSocketPath(paths.run), { force: true });
  const control = await serveControl(paths.run, supervisor);
  await supervisor.start();
  await stopped;
  control.close();
  // Everything is down and reported: exit now rather than when the last idle keep-alive socket
  // of a probe times out (`stop` waits for this process).
  process.exit(0);
}
