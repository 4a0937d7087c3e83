/**
 * The supervisor's catalog for this node: the services' specs (services/upstream/daemons.ts)
 * with what only this layer knows, the admin identity from the node's kubeconfig (to ask the
 * API server's /readyz, and to grant flanneld its read of Nodes: flannel-rbac.ts) and which
 * datastore the API server uses (read from its args file).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Paths } from '../../lib/paths.js';
import { resolveUpstreamPaths } from '../../lib/upstream-paths.js';
import { readArgsFile } from '../../node/args-file.js';
import { currentNodeRecord } from '../../node/record.js';
import { nodeCtrTarget } from '../../services/images/ctr.js';
import type { DaemonSpec } from '../../services/supervisor/spec.js';
import { type ClientTls, nodeDaemonSpecs } from '../../services/upstream/daemons.js';
import { ensureCgroupRoot, prepareHost } from '../../services/upstream/host-prep.js';
import { upstreamLayout } from '../../services/upstream/layout.js';
import { importLocalImages } from '../../services/upstream/local-images.js';
import { followBeforeStart } from '../agent/cluster-args-follow.js';
import { parseKubeconfig } from '../pki/kubeconfig.js';
import { certsLayout } from '../pki/layout.js';
import { ensureFlannelNodeReader } from './flannel-rbac.js';

export function adminTls(paths: Paths): ClientTls {
  const file = certsLayout(paths.certs).kubeconfigs.admin;
  const content = parseKubeconfig(readFileSync(file, 'utf8'), file);
  return { ca: content.caPem, cert: content.certPem, key: content.keyPem };
}

/** The API server uses the embedded datastore unless its --etcd-servers names another etcd. */
/** kube-apiserver's --etcd-servers, one endpoint each (none before it is configured). */
export function apiServerEtcdServers(paths: Paths): string[] {
  const servers = readArgsFile(join(paths.args, 'kube-apiserver'), { missingOk: true }).get(
    'etcd-servers',
  )?.[0];
  return (servers ?? '').split(',').filter(Boolean);
}

export function usesEmbeddedDatastore(paths: Paths): boolean {
  const [first] = apiServerEtcdServers(paths);
  return first === undefined || first.startsWith('unix://');
}

export function nodeDaemons(paths: Paths): DaemonSpec[] {
  const upstream = resolveUpstreamPaths();
  const layout = upstreamLayout(paths);
  const worker = currentNodeRecord(paths).kind === 'worker';
  const admin = worker ? undefined : adminTls(paths);
  return nodeDaemonSpecs({
    paths,
    upstream,
    layout,
    role: worker ? 'worker' : 'control-plane',
    ...(admin ? { adminTls: admin, prepareFlanneld: () => ensureFlannelNodeReader(admin) } : {}),
    embeddedDatastore: !worker && usesEmbeddedDatastore(paths),
    followClusterArgs: (service) => followBeforeStart(paths, service),
    prepareKubelet: async () => [
      ...prepareHost(),
      ...ensureCgroupRoot(layout.cgroupRoot),
      ...(await importLocalImages(upstream, nodeCtrTarget(paths))),
    ],
  });
}
