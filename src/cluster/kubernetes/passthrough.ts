/**
 * `microk8s kubectl ...`, `microk8s ctr ...` and `microk8s helm ...`: the upstream tools with
 * this node's admin kubeconfig or containerd socket put in front of the user's arguments (helm:
 * in KUBECONFIG, so that none of its own argument parsing changes), everything else passed
 * through untouched (stdio, exit code). bin/run.js calls this before oclif, so that kubectl's
 * own flags (--help, -o, --raw) are never read as ours.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import { MicroK8sError } from '../../lib/errors.js';
import type { Paths } from '../../lib/paths.js';
import { resolveUpstreamPaths } from '../../lib/upstream-paths.js';
import { K8S_NAMESPACE } from '../../services/images/ctr.js';
import { upstreamLayout } from '../../services/upstream/layout.js';
import { certsLayout } from '../pki/layout.js';

export type PassthroughTool = 'kubectl' | 'ctr' | 'helm';

function upstreamBinary(name: string): string {
  const path = join(resolveUpstreamPaths().bin, name);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new MicroK8sError('MK_UPSTREAM_MISSING', `${name} is not installed at ${path}`, { binary: name });
  }
  return path;
}

function adminKubeconfig(paths: Paths): string {
  const kubeconfig = certsLayout(paths.certs).kubeconfigs.admin;
  if (!existsSync(kubeconfig)) {
    throw new MicroK8sError('MK_NO_CREDENTIALS', `this node has no admin kubeconfig (${kubeconfig})`, {
      file: kubeconfig,
    });
  }
  return kubeconfig;
}

export function passthroughCommand(paths: Paths, tool: PassthroughTool, args: readonly string[]): string[] {
  if (tool === 'kubectl')
    return [upstreamBinary('kubectl'), `--kubeconfig=${adminKubeconfig(paths)}`, ...args];
  if (tool === 'helm') return [upstreamBinary('helm'), ...args];
  const socket = upstreamLayout(paths).containerdSocket;
  return [upstreamBinary('ctr'), '--address', socket, '--namespace', K8S_NAMESPACE, ...args];
}

/** The tool's environment: ours, plus helm's KUBECONFIG. */
export function passthroughEnv(paths: Paths, tool: PassthroughTool): NodeJS.ProcessEnv {
  return tool === 'helm' ? { ...process.env, KUBECONFIG: adminKubeconfig(paths) } : process.env;
}

/** Runs the tool in the foreground; resolves to its exit code (128 + n for a signal, as shells do). */
export function runPassthrough(
  paths: Paths,
  tool: PassthroughTool,
  args: readonly string[],
): Promise<number> {
  const [command, ...rest] = passthroughCommand(paths, tool, args);
  const env = passthroughEnv(paths, tool);
  return new Promise((resolveRun, rejectRun) => {
    const child = spawn(command!, rest, { stdio: 'inherit', env });
    // The terminal's Ctrl-C reaches the tool itself; we only wait for it.
    const ignore = () => {};
    process.on('SIGINT', ignore);
    child.once('error', rejectRun);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', ignore);
      resolveRun(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 2));
    });
  });
}
