/**
 * The datastore daemon: one process per node, as the snap runs it. It opens the node, serves
 * the etcd API and the admin socket; on SIGTERM it hands its role over, then stops (SIGINT: at once).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MicroK8sError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { certRecordKey, type IdentityLookups, parseCertRecord } from '../etcd/client-identity.js';
import { EtcdServer } from '../etcd/server.js';
import { AdminServer } from './admin.js';
import { buildDaemonConfig, type DaemonConfig, readDatastoreArgs } from './config.js';
import { DatastoreNode } from './driver.js';
import type { RolesPlanner } from './roles-agent.js';

function readPem(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new MicroK8sError('MK_TLS', `--${flag}: cannot read ${path}: ${(error as Error).message}`);
  }
}

export interface DaemonHandle {
  readonly node: DatastoreNode;
  readonly config: DaemonConfig;
  /** Resolves when the daemon has stopped (signal, fatal error or stop()). */
  readonly done: Promise<number>;
  stop(): Promise<void>;
}

export async function startDaemon(
  cliFlags: Map<string, string[]>,
  argsFile?: string,
  options: { rolesPlanner?: RolesPlanner } = {},
): Promise<DaemonHandle> {
  const config = buildDaemonConfig(argsFile ? readDatastoreArgs(argsFile) : undefined, cliFlags);
  const logger = createLogger(`datastore.${config.name}`);
  const tls = {
    ca: readPem('ca-cert', config.caCert),
    cert: readPem('cert', config.cert),
    key: readPem('key', config.key),
  };
  const clientUrl = config.clientListen
    ? `http://${config.clientListen.host}:${config.clientListen.port}`
    : undefined;
  const node = await DatastoreNode.start({ config, tls, logger, ...(clientUrl ? { clientUrl } : {}) });
  if (options.rolesPlanner) node.setRolesPlanner(options.rolesPlanner);
  // Only members and datastore clients may use the etcd API over TCP (client-identity.ts).
  const tlsClients: IdentityLookups = {
    members: () => node.members().map((m) => Number(m.id)),
    record: async (serial) => {
      const found = await node.range({ key: certRecordKey(serial), limit: 1 }, false);
      return found.kvs[0] ? parseCertRecord(found.kvs[0].value) : undefined;
    },
  };
  const etcd = new EtcdServer({ backend: node, logger: logger.child('etcd'), tlsClients });
  if (config.clientUnix) await etcd.listen({ unixSocket: config.clientUnix });
  if (config.clientListen)
    await etcd.listen({ tcp: { host: config.clientListen.host, port: config.clientListen.port } });
  if (config.clientTlsListen) {
    await etcd.listen({ tcp: { host: config.clientTlsListen.host, port: config.clientTlsListen.port, tls } });
  }
  const admin = new AdminServer(node, join(config.dataDir, 'admin.sock'), logger.child('admin'), {
    ...(argsFile ? { argsFile } : {}),
  });
  await admin.listen();

  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    finish = resolve;
  });
  let stopping: Promise<void> | undefined;
  const stop = (code = 0, handover = code === 0): Promise<void> => {
    stopping ??= (async () => {
      logger.info('stopping', { code, handover });
      await etcd.stop();
      await node.stop({ handover });
      await admin.close();
      finish(code);
    })();
    return stopping;
  };
  node.setFatalHandler(() => void stop(1));
  // SIGTERM (a service stop, one node at a time) hands the node's role over first; SIGINT stops
  // at once, for when the whole cluster goes down and there is nobody to hand over to.
  process.once('SIGTERM', () => void stop(0));
  process.once('SIGINT', () => void stop(0, false));
  logger.info('datastore ready', {
    id: config.id,
    peerPort: node.peerPort,
    client: clientUrl ?? config.clientUnix,
  });
  return { node, config, done, stop: () => stop(0) };
}
