/**
 * The node's own datastore as the hooks reach it: its etcd unix socket (the socket is the
 * node's, no TLS) and whether this node runs one at all (a worker or a node on an external
 * etcd does not).
 */

import { usesEmbeddedDatastore } from '../cluster/kubernetes/node-daemons.js';
import { defaultDatastoreDir, localEtcdSocket } from '../cluster/status.js';
import type { Paths } from '../lib/paths.js';
import { currentNodeRecord } from '../node/record.js';

export function runsOwnDatastore(paths: Paths): boolean {
  return currentNodeRecord(paths).kind === 'control-plane' && usesEmbeddedDatastore(paths);
}

export function nodeEtcdSocket(paths: Paths): string {
  return localEtcdSocket(paths, defaultDatastoreDir(paths));
}
