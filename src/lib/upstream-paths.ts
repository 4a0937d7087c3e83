/**
 * Where the upstream binaries (Kubernetes, containerd, runc, CNI plugins) and the locally built
 * images are. In a snap they are part of the read-only install ($SNAP/bin, $SNAP/images).
 * Outside a snap they come from `npm run build:upstream`, which keeps its outputs in a cache
 * outside the clone (so a fresh clone reuses them): $XDG_CACHE_HOME/microk8s-upstream, or
 * ~/.cache/microk8s-upstream. MICROK8S_UPSTREAM_CACHE moves it.
 */
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { MicroK8sError } from './errors.js';
import type { Environment } from './paths.js';

export interface UpstreamPaths {
  /** The folder that holds every upstream binary by its command name. */
  readonly bin: string;
  /** The folder of image tars (OCI layouts) built here. */
  readonly images: string;
  /** CNI plugins (containerd and the kubelet look here). */
  readonly cniBin: string;
}

function absoluteVariable(name: string, value: string): string {
  if (!isAbsolute(value)) {
    throw new MicroK8sError('MK_INVALID_CONFIG', `${name} must be an absolute path, got '${value}'`, {
      variable: name,
    });
  }
  return value;
}

/** The build cache of `npm run build:upstream` (outside a snap only). */
export function upstreamCacheDir(env: Environment = process.env, home: string = homedir()): string {
  if (env.MICROK8S_UPSTREAM_CACHE)
    return absoluteVariable('MICROK8S_UPSTREAM_CACHE', env.MICROK8S_UPSTREAM_CACHE);
  const cacheHome = env.XDG_CACHE_HOME
    ? absoluteVariable('XDG_CACHE_HOME', env.XDG_CACHE_HOME)
    : join(home, '.cache');
  return join(cacheHome, 'microk8s-upstream');
}

export function resolveUpstreamPaths(
  env: Environment = process.env,
  home: string = homedir(),
): UpstreamPaths {
  if (env.SNAP) {
    const snap = absoluteVariable('SNAP', env.SNAP);
    return { bin: join(snap, 'bin'), images: join(snap, 'images'), cniBin: join(snap, 'opt', 'cni', 'bin') };
  }
  const cache = upstreamCacheDir(env, home);
  return { bin: join(cache, 'bin'), images: join(cache, 'images'), cniBin: join(cache, 'bin') };
}
