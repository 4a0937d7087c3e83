/**
 * One bounded request to this node's API server (https://127.0.0.1:16443) with a client
 * identity: what `status` asks (health.ts) and what the control plane applies for itself
 * (flannel-rbac.ts). undefined when nothing answered; the body is cut at 1 MB.
 */
import { request } from 'node:https';
import type { ClientTls } from '../../services/upstream/daemons.js';
import { NETWORK } from '../../services/upstream/layout.js';

const REQUEST_TIMEOUT_MS = 3_000;
const BODY_LIMIT = 1_000_000;

export interface LocalApiRequest {
  readonly method: 'GET' | 'PATCH';
  readonly path: string;
  readonly body?: string;
  readonly contentType?: string;
}

export function localApiRequest(
  tls: ClientTls,
  req: LocalApiRequest,
): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolveRequest) => {
    const headers = req.body === undefined ? {} : { 'content-type': req.contentType ?? 'application/json' };
    const outgoing = request(
      {
        host: '127.0.0.1',
        port: NETWORK.apiServerPort,
        path: req.path,
        method: req.method,
        headers,
        timeout: REQUEST_TIMEOUT_MS,
        ...tls,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < BODY_LIMIT) body += chunk;
        });
        res.on('end', () => resolveRequest({ status: res.statusCode ?? 0, body }));
        res.on('error', () => resolveRequest(undefined));
      },
    );
    outgoing.once('timeout', () => outgoing.destroy());
    outgoing.once('error', () => resolveRequest(undefined));
    outgoing.end(req.body);
  });
}
