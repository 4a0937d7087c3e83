/**
 * Starting one of this project's daemons when no service manager does it (outside a snap: a
 * developer's machine, the tests): detached, its output appended to <logs>/<name>.log, and a
 * pid file <run>/<name>.pid, which is what `microk8s status` and a restart read.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MicroK8sError } from '../lib/errors.js';
import { openLogFile } from '../lib/file-modes.js';
import { type Paths, packageRoot } from '../lib/paths.js';
import { DATASTORE_NODE_FLAGS } from '../lib/runtime-flags.js';

/** The command that runs one of our daemons, as a user would type it. */
export function daemonCommand(args: readonly string[]): string[] {
  // The datastore's runtime flags can only be given on the command line (see runtime-flags).
  const flags = args[0] === 'datastore' && args[1] === 'run' ? DATASTORE_NODE_FLAGS : [];
  return [process.execPath, ...flags, join(packageRoot(), 'bin', 'run.js'), ...args];
}

export function spawnDaemon(
  paths: Paths,
  name: string,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): number {
  mkdirSync(paths.logs, { recursive: true });
  mkdirSync(paths.run, { recursive: true });
  const out = openLogFile(join(paths.logs, `${name}.log`));
  try {
    const [command, ...rest] = daemonCommand(args);
    const child = spawn(command!, rest, {
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...process.env, ...env },
    });
    child.unref();
    if (child.pid === undefined) throw new MicroK8sError('MK_INTERNAL', `could not start ${name}`);
    writeFileSync(join(paths.run, `${name}.pid`), `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(out); // the child has its own copy
  }
}
