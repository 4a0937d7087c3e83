/**
 * File modes of what the daemons write. A daemon started by hand, by a test or by a spawner
 * inherits the caller's umask (often 022: world-readable files); each of ours sets its own
 * first, so keys, the datastore (every Secret) and logs are never readable by others, whatever
 * the caller's umask. Files that must be private whatever the umask (keys) still say their mode.
 */
import { fchmodSync, openSync } from 'node:fs';

/** The datastore's umask: its database, Raft log and snapshots are 0600, its folders 0700. */
export const DATASTORE_UMASK = 0o077;

/** The umask of our other daemons (cluster agent, API-server proxy): files 0640 at most. */
export const DAEMON_UMASK = 0o027;

/** Daemon logs: the owner writes, the group (e.g. adm) may read, others nothing. */
export const LOG_FILE_MODE = 0o640;

/** Open a log for appending at LOG_FILE_MODE; an older, looser log is narrowed to it. */
export function openLogFile(path: string): number {
  const fd = openSync(path, 'a', LOG_FILE_MODE);
  try {
    fchmodSync(fd, LOG_FILE_MODE);
  } catch {
    // Not the owner (another user's log): the mode is theirs to set.
  }
  return fd;
}
