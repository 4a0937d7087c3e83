/**
 * The cluster agent: HTTPS (the node's server certificate, issued by the cluster CA, whose hash
 * add-node prints), JSON in and out. Every failure is answered as `{code, message}` with a
 * stable MK_* code and a fitting HTTP status; an unexpected error is logged and answered as
 * MK_INTERNAL without its details (they may name files or state a joiner has no business seeing).
 *
 *   GET  /v1/health     {status, version}
 *   POST /v1/join       a control-plane or worker join (see handlers.ts)
 *   POST /v1/sign-csr   a worker renews its certificates, with its current kubelet certificate
 *   POST /v1/remove     member removal, for a caller with a member's certificate (mutual TLS)
 *   POST /v1/configure  a service's args (+ restart) here or on every control-plane node, same rule
 *   POST /v1/service-args  a service's args as this or every control-plane node has them, same rule
 *   GET  /v1/cluster-args  the kubelet/kube-proxy args recorded cluster-wide, for a worker or member
 */
import type { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { nodeIdFromCertificate } from '../../datastore/transport/identity.js';
import { ConnectionAdmission } from '../../lib/connection-admission.js';
import { isMicroK8sError, MicroK8sError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import type { AgentBind } from './context.js';
import type { AgentHandlers } from './handlers.js';
import { AGENT_LIMITS } from './limits.js';
import {
  API_PREFIX,
  httpStatus,
  parseConfigureRequest,
  parseJoinRequest,
  parseRemoveRequest,
  parseServiceArgsRequest,
  parseSignCsrRequest,
} from './protocol.js';

const log = createLogger('cluster.agent');

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, error: unknown, path: string): void {
  if (isMicroK8sError(error)) {
    log.info('request refused', { path, code: error.code, message: error.message });
    send(res, httpStatus(error.code), { code: error.code, message: error.message });
    return;
  }
  log.error('request failed', { path, error });
  send(res, 500, { code: 'MK_INTERNAL', message: 'the cluster agent failed; see its log' });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) {
    throw new MicroK8sError('MK_AGENT_BAD_REQUEST', 'the body must be application/json');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > AGENT_LIMITS.maxBodyBytes) {
      throw new MicroK8sError(
        'MK_LIMIT_EXCEEDED',
        `the body is larger than ${AGENT_LIMITS.maxBodyBytes} bytes`,
      );
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new MicroK8sError('MK_AGENT_BAD_REQUEST', 'the body is not valid JSON');
  }
}

/** The client certificate on this request when it chains to the cluster CA. */
function verifiedClient(req: IncomingMessage): X509Certificate | undefined {
  const socket = req.socket as TLSSocket;
  return socket.authorized ? socket.getPeerX509Certificate() : undefined;
}

/** The node id of a verified member certificate on this request, if any. */
function memberOf(req: IncomingMessage): number | undefined {
  const socket = req.socket as TLSSocket;
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerX509Certificate();
  if (!cert) return undefined;
  try {
    return nodeIdFromCertificate(cert);
  } catch {
    return undefined;
  }
}

export interface AgentServerOptions {
  readonly bind: AgentBind;
  readonly certPath: string;
  readonly keyPath: string;
  /** The cluster CA: a client certificate it signed identifies a member (for /v1/remove). */
  readonly caPath: string;
  readonly handlers: AgentHandlers;
}

export class AgentServer {
  private readonly server: Server;

  constructor(private readonly options: AgentServerOptions) {
    const tls = { cert: readFileSync(options.certPath), key: readFileSync(options.keyPath) };
    // A client certificate is asked for but not required: a joining node has none yet (it proves
    // itself with a token); only /v1/remove insists on a member's certificate.
    const clientAuth = { ca: readFileSync(options.caPath), requestCert: true, rejectUnauthorized: false };
    this.server = createServer(
      { ...tls, ...clientAuth, minVersion: 'TLSv1.2', handshakeTimeout: AGENT_LIMITS.tlsHandshakeTimeoutMs },
      (req, res) => void this.route(req, res),
    );
    new ConnectionAdmission({
      name: 'cluster agent port',
      limits: {
        maxConnections: AGENT_LIMITS.maxConnections,
        maxPerSource: AGENT_LIMITS.maxConnectionsPerSource,
        reservedForKnown: 0,
      },
      logger: log,
    }).attach(this.server);
    this.server.requestTimeout = AGENT_LIMITS.requestTimeoutMs;
    this.server.headersTimeout = AGENT_LIMITS.requestTimeoutMs;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'https://agent').pathname;
    const h = this.options.handlers;
    try {
      if (req.method === 'GET' && path === `${API_PREFIX}/health`) return send(res, 200, h.health());
      if (req.method === 'POST' && path === `${API_PREFIX}/join`)
        return send(res, 200, await h.join(parseJoinRequest(await readJson(req))));
      if (req.method === 'POST' && path === `${API_PREFIX}/sign-csr`)
        return send(res, 200, await h.signCsr(parseSignCsrRequest(await readJson(req)), verifiedClient(req)));
      if (req.method === 'POST' && path === `${API_PREFIX}/remove`)
        return send(res, 200, await h.remove(parseRemoveRequest(await readJson(req)), memberOf(req)));
      if (req.method === 'POST' && path === `${API_PREFIX}/configure`)
        return send(res, 200, await h.configure(parseConfigureRequest(await readJson(req)), memberOf(req)));
      if (req.method === 'POST' && path === `${API_PREFIX}/service-args`)
        return send(
          res,
          200,
          await h.serviceArgs(parseServiceArgsRequest(await readJson(req)), memberOf(req)),
        );
      if (req.method === 'GET' && path === `${API_PREFIX}/cluster-args`)
        return send(res, 200, await h.clusterArgs(verifiedClient(req), memberOf(req)));
      send(res, 404, { code: 'MK_AGENT_BAD_REQUEST', message: `no ${req.method} ${path}` });
    } catch (error) {
      sendError(res, error, path);
    }
  }

  async listen(): Promise<AddressInfo> {
    const { host, port } = this.options.bind;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) =>
        reject(
          new MicroK8sError(
            'MK_AGENT_LISTEN',
            `cannot listen on ${host}:${port}: ${error.code ?? error.message}`,
            {},
            { cause: error },
          ),
        );
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    log.info('cluster agent listening', { address: address.address, port: address.port });
    return address;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
