/**
 * Where a node keeps its files. Inside a snap the snap's variables decide: SNAP is the
 * read-only install, SNAP_DATA is per revision (copied on refresh: args, certificates) and
 * SNAP_COMMON is shared by revisions (the datastore, so a refresh never copies it).
 * Outside a snap everything lives under one per-user folder, MICROK8S_HOME overrides it, so
 * several independent nodes can live on one machine.
 */
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MicroK8sError } from './errors.js';

export interface Paths {
  /** True when running inside a snap. */
  readonly inSnap: boolean;
  /** Read-only install folder (the snap, or the package root). */
  readonly install: string;
  /** Per-revision data. */
  readonly data: string;
  /** Data shared by revisions. */
  readonly common: string;
  /** One flag per line per service, editable by operators. */
  readonly args: string;
  readonly certs: string;
  readonly datastore: string;
  readonly logs: string;
  /** Sockets and pid files of the running services. */
  readonly run: string;
}

export type Environment = Readonly<Record<string, string | undefined>>;

/** The package root: two levels above this module in both src/lib and dist/lib. */
export function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

function absolute(name: string, value: string): string {
  if (!isAbsolute(value)) {
    throw new MicroK8sError('MK_INVALID_CONFIG', `${name} must be an absolute path, got '${value}'`, {
      variable: name,
    });
  }
  return value;
}

function derived(base: { inSnap: boolean; install: string; data: string; common: string }): Paths {
  return {
    ...base,
    args: join(base.data, 'args'),
    certs: join(base.data, 'certs'),
    datastore: join(base.common, 'datastore'),
    logs: join(base.common, 'logs'),
    run: join(base.common, 'run'),
  };
}

export function resolvePaths(env: Environment = process.env, home: string = homedir()): Paths {
  const snap = env.SNAP;
  if (snap) {
    const data = env.SNAP_DATA;
    const common = env.SNAP_COMMON;
    if (!data || !common) {
      throw new MicroK8sError('MK_INVALID_CONFIG', 'SNAP is set but SNAP_DATA or SNAP_COMMON is not', {
        variable: data ? 'SNAP_COMMON' : 'SNAP_DATA',
      });
    }
    return derived({
      inSnap: true,
      install: absolute('SNAP', snap),
      data: absolute('SNAP_DATA', data),
      common: absolute('SNAP_COMMON', common),
    });
  }
  const root = env.MICROK8S_HOME
    ? absolute('MICROK8S_HOME', env.MICROK8S_HOME)
    : join(
        env.XDG_DATA_HOME ? absolute('XDG_DATA_HOME', env.XDG_DATA_HOME) : join(home, '.local', 'share'),
        'microk8s',
      );
  return derived({
    inSnap: false,
    install: packageRoot(),
    data: join(root, 'data'),
    common: join(root, 'common'),
  });
}
