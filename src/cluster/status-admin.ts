/**
 * Reads a datastore node's own view through its admin socket (HTTP on `<data dir>/admin.sock`).
 * The socket sits in the data folder so that only users who may read the node's files can ask.
 * Every request is bounded: a hung node must not hang `microk8s status`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'undici';
import type { NodeStatusReport } from '../datastore/node/driver.js';

export const ADMIN_SOCKET = 'admin.sock';

export type ReportResult =
  | { readonly report: NodeStatusReport }
  | { readonly report?: undefined; readonly reason: string };

export function adminSocketPath(datastoreDir: string): string {
  return join(datastoreDir, ADMIN_SOCKET);
}

/** GET /status from the node; on failure, a sentence saying why (for the user, not a stack). */
export async function fetchNodeReport(datastoreDir: string, timeoutMs: number): Promise<ReportResult> {
  const socketPath = adminSocketPath(datastoreDir);
  if (!existsSync(socketPath)) return { reason: `no datastore admin socket at ${socketPath}` };
  const client = new Client('http://admin', {
    socketPath,
    connectTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  try {
    const res = await client.request({
      path: '/status',
      method: 'GET',
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      return { reason: `the datastore answered ${res.statusCode} on ${socketPath}` };
    }
    return { report: (await res.body.json()) as NodeStatusReport };
  } catch (error) {
    // A socket left behind by a killed node refuses connections: that node is simply not running.
    const code = (error as NodeJS.ErrnoException).code;
    return { reason: `the datastore does not answer on ${socketPath} (${code ?? (error as Error).message})` };
  } finally {
    await client.close();
  }
}
