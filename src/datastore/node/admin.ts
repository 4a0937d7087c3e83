/**
 * The node's admin endpoint: HTTP on a unix socket in its data folder, so only local users with
 * access to the folder can reach it. `lab status` and later `dbctl` read the node through it.
 *   GET  /status            the node's view: role, term, leader, indexes, members, transport, log
 *   GET  /hash              a hash of the key space (to compare replicas)
 *   POST /transfer?to=ID    leadership transfer
 *   POST /placement?failure-domain=D&weight=W
 *                           change this node's placement at run time (replicated, and written to
 *                           the args file so that a restart keeps it)
 *   POST /members?id=N&peer=HOST:PORT[&client=URL][&failure-domain=D][&weight=W]
 *                           record a joining node: the leader adds it as a spare, the planner
 *                           promotes it
 *   POST /members/remove?id=N[&force=1]
 *                           ask the leader to remove a member: a voter is replaced and demoted
 *                           first; without force only while the leader does not hear from it
 */
import { existsSync, rmSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { isMicroK8sError, MicroK8sError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { editArgsFile } from '../../node/args-file.js';
import { parseFailureDomain, parseHostPort, parseWeight } from './config.js';
import type { DatastoreNode } from './driver.js';

// node:http through require, not an ES import: the ES module namespace of node:http evaluates its
// lazy exports (fetch's undici, web streams, ...), measured +18 MB of RSS against +4 MB this way,
// in a daemon that only needs a server on its admin socket.
const { createServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export class AdminServer {
  private readonly server: Server;
  private readonly path: string;

  constructor(node: DatastoreNode, path: string, logger: Logger, options: { argsFile?: string } = {}) {
    this.path = path;
    const fail = (res: ServerResponse, path: string, error: unknown) => {
      logger.warn('admin request failed', { path, error });
      const code = isMicroK8sError(error) ? error.code : 'MK_INTERNAL';
      reply(res, isMicroK8sError(error) ? 400 : 500, { code, message: (error as Error).message });
    };
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'http://admin');
      try {
        if (req.method === 'POST' && url.pathname === '/members') {
          const q = url.searchParams;
          const id = Number(q.get('id'));
          if (!(Number.isSafeInteger(id) && id > 0))
            throw new MicroK8sError('MK_INVALID_ARGUMENT', 'id must be a positive integer');
          const peer = parseHostPort('peer', q.get('peer') ?? '');
          const info = {
            id,
            peerAddress: `${peer.host.includes(':') ? `[${peer.host}]` : peer.host}:${peer.port}`,
            clientUrl: q.get('client') ?? '',
            failureDomain: parseFailureDomain(q.get('failure-domain') ?? 'default'),
            weight: parseWeight(q.get('weight') ?? '0'),
            draining: false,
            removal: 'no' as const,
          };
          node.registerMember(info).then(
            () => reply(res, 200, info),
            (error: unknown) => fail(res, url.pathname, error),
          );
          return;
        }
        if (req.method === 'POST' && url.pathname === '/members/remove') {
          const id = Number(url.searchParams.get('id'));
          const force = url.searchParams.get('force') === '1';
          node.requestRemoval(id, force).then(
            () => reply(res, 200, { id, removal: force ? 'force' : 'if-offline' }),
            (error: unknown) => fail(res, url.pathname, error),
          );
          return;
        }
        if (req.method === 'POST' && url.pathname === '/placement') {
          const current = node.report();
          const domain = url.searchParams.get('failure-domain');
          const weight = url.searchParams.get('weight');
          const placement = {
            failureDomain: domain === null ? current.failureDomain : parseFailureDomain(domain),
            weight: weight === null ? current.weight : parseWeight(weight),
          };
          node
            .setPlacement(placement)
            .then(async () => {
              if (options.argsFile) {
                await editArgsFile(options.argsFile, {
                  set: { 'failure-domain': placement.failureDomain, weight: String(placement.weight) },
                });
              }
            })
            .then(
              () => reply(res, 200, placement),
              (error: unknown) => fail(res, url.pathname, error),
            );
          return;
        }
        if (req.method === 'GET' && url.pathname === '/status') return reply(res, 200, node.report());
        if (req.method === 'GET' && url.pathname === '/hash')
          return reply(res, 200, { hash: node.hash(), revision: node.revision() });
        if (req.method === 'POST' && url.pathname === '/transfer') {
          const to = Number(url.searchParams.get('to'));
          node.transferLeadership(to);
          return reply(res, 202, { transferring: to });
        }
        return reply(res, 404, { code: 'MK_INVALID_ARGUMENT', message: `no ${req.method} ${url.pathname}` });
      } catch (error) {
        return fail(res, url.pathname, error);
      }
    });
  }

  async listen(): Promise<void> {
    // A socket file left by a killed process would make listen fail.
    if (existsSync(this.path)) rmSync(this.path);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.path, () => resolve());
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
