/**
 * The command line of `microk8s datastore run`, shared by its two entry points: the oclif command
 * (help, docs, and every unusual command line) and the fast path in bin/run.js, which starts the
 * daemon without loading oclif at all (oclif alone costs ~18 MB of RSS for the daemon's lifetime).
 *
 * The flags are config.ts's DATASTORE_FLAGS (the args-file reader's too) plus --args-file; the
 * oclif command builds its flags from that table. The fast path accepts only the plain shapes `--name value` and `--name=value` of
 * these flags; anything else (help, unknown or repeated flags, missing values, arguments) is left
 * to oclif, so every usage error keeps oclif's exact wording and exit code.
 *
 * This module imports nothing heavy at load time: the daemon is imported when it is started.
 */
import { isMicroK8sError } from '../../lib/errors.js';
import { DATASTORE_UMASK } from '../../lib/file-modes.js';
import { tuneDatastoreHeap } from '../../lib/runtime-flags.js';
import { DATASTORE_FLAGS, type DatastoreFlag } from './config.js';
import type { RolesPlanner } from './roles-agent.js';

export type DatastoreRunFlag = DatastoreFlag;

export const DATASTORE_RUN_FLAGS = {
  'args-file': { description: 'file with one flag per line' },
  ...DATASTORE_FLAGS,
} as const satisfies Record<string, DatastoreRunFlag>;

export type DatastoreRunFlagName = keyof typeof DATASTORE_RUN_FLAGS;

/** Parsed flags, as oclif hands them over: a string, or a list for a multiple flag. */
export type DatastoreRunFlags = { readonly [name: string]: string | readonly string[] | undefined };

function isFlagName(name: string): name is DatastoreRunFlagName {
  return Object.hasOwn(DATASTORE_RUN_FLAGS, name);
}

/**
 * The flags of a plain command line (the words after `datastore run`), or undefined when it is
 * anything oclif might read differently or reject; the caller then hands it to oclif.
 */
export function parsePlainDatastoreRunArgs(argv: readonly string[]): DatastoreRunFlags | undefined {
  const flags: Record<string, string | string[]> = {};
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (!word.startsWith('--') || word === '--') return undefined;
    const eq = word.indexOf('=');
    const name = eq === -1 ? word.slice(2) : word.slice(2, eq);
    let value: string | undefined;
    if (eq !== -1) value = word.slice(eq + 1);
    else value = argv[++i];
    // A value that looks like a flag, an empty one or a missing one: oclif decides what it means.
    if (!isFlagName(name) || value === undefined || value === '' || value.startsWith('-')) return undefined;
    const spec: DatastoreRunFlag = DATASTORE_RUN_FLAGS[name];
    const previous = flags[name];
    if (spec.multiple) {
      // oclif lets a multiple flag take the following words too (`--peer a b`): only the
      // one-value-per-flag shape is plain.
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('-')) return undefined;
      flags[name] = [...((previous as string[] | undefined) ?? []), value];
    } else {
      if (previous !== undefined) return undefined;
      flags[name] = value;
    }
  }
  return flags;
}

/** Run the daemon until it stops; the exit code of the process. Both entry points end here. */
export async function runDatastore(
  flags: DatastoreRunFlags,
  options: { rolesPlanner: RolesPlanner },
): Promise<number> {
  const tokens = new Map<string, string[]>();
  let argsFile: string | undefined;
  for (const [name, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    if (name === 'args-file') argsFile = String(value);
    else tokens.set(name, Array.isArray(value) ? [...value] : [String(value)]);
  }
  // Before the daemon's modules load: V8 applies the heap setting from here on.
  tuneDatastoreHeap();
  // Before anything is created: a fresh --data-dir and its files are the owner's alone.
  process.umask(DATASTORE_UMASK);
  const { startDaemon } = await import('./daemon.js');
  const daemon = await startDaemon(tokens, argsFile, { rolesPlanner: options.rolesPlanner });
  return daemon.done;
}

/**
 * The fast path: undefined when the command line is not plain (oclif takes over), else the exit
 * code. An operating error is printed as MicroK8sCommand prints it; anything else is a bug and
 * keeps its stack.
 */
export async function runDatastoreFastPath(
  argv: readonly string[],
  options: { rolesPlanner: RolesPlanner },
): Promise<number | undefined> {
  const flags = parsePlainDatastoreRunArgs(argv);
  if (flags === undefined) return undefined;
  try {
    return await runDatastore(flags, options);
  } catch (error) {
    if (isMicroK8sError(error)) {
      process.stderr.write(`Error [${error.code}]: ${error.message}\nHint: ${error.hint}\n`);
      return error.exitCode;
    }
    process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
    return 1;
  }
}
