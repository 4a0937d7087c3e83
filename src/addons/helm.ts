/**
 * helm for users and for plugins, once the helm addon is enabled in the cluster: `microk8s helm
 * ...` (and `helm3`; bin/run.js runs it before oclif, so every argument is helm's, and stdio and
 * the exit code are helm's), and the plugin context's ctx.helm (output captured, bounded). Both
 * run the helm binary with this node's admin kubeconfig in KUBECONFIG.
 */
import { execFile } from 'node:child_process';
import { passthroughCommand, passthroughEnv, runPassthrough } from '../cluster/kubernetes/passthrough.js';
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { isEnabled } from './enabled.js';
import { KubeClient } from './kube/client.js';
import { adminCredentials } from './kube/kubeconfig.js';
import { coreRepository, findAddon } from './repository.js';

/** Hang guard of one helm call from a plugin (an install that waits for its pods included). */
export const HELM_CALL_TIMEOUT_MS = 5 * 60_000;

/** MK_ADDON_NOT_ENABLED unless the helm addon is enabled. */
export async function requireHelmAddon(kube: KubeClient, paths: Paths): Promise<void> {
  if (!(await isEnabled(kube, findAddon([coreRepository()], 'helm'), paths)))
    throw new MicroK8sError('MK_ADDON_NOT_ENABLED', 'the helm addon is not enabled', { addon: 'helm' });
}

export async function runHelm(paths: Paths, args: readonly string[]): Promise<number> {
  const kube = new KubeClient(adminCredentials(paths));
  try {
    await requireHelmAddon(kube, paths);
  } finally {
    await kube.close();
  }
  return runPassthrough(paths, 'helm', args);
}

/** helm ARGS with its output captured; a failure carries helm's own message. */
export async function helmOutput(
  paths: Paths,
  kube: KubeClient,
  args: readonly string[],
  timeoutMs = HELM_CALL_TIMEOUT_MS,
): Promise<string> {
  await requireHelmAddon(kube, paths);
  const [command, ...rest] = passthroughCommand(paths, 'helm', args);
  const env = passthroughEnv(paths, 'helm');
  return new Promise((resolveRun, rejectRun) => {
    execFile(
      command!,
      rest,
      { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) rejectRun(new Error(`helm ${args.join(' ')}: ${stderr.trim() || error.message}`));
        else resolveRun(stdout);
      },
    );
  });
}
