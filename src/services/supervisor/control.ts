/**
 * The supervisor's control socket, <run>/supervisor.sock (HTTP over a unix socket, reachable
 * only by who can reach the node's run folder): POST /v1/services/NAME/stop|start|restart. A
 * stopped service stays down until it is started again (the supervisor does not restart it);
 * `configure --restart` and an address change go through here when a supervisor runs the node,
 * so that one owner starts every daemon and no second copy is ever spawned beside it.
 */
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { MicroK8sError } from '../../lib/errors.js';

export type ControlAction = 'stop' | 'start' | 'restart';

export interface ControlResult {
  readonly service: string;
  readonly action: ControlAction;
  /** The running pid after a start or restart; the stopped one after a stop. */
  readonly pid?: number;
  readonly killed?: boolean;
}

export interface Controllable {
  control(service: string, action: ControlAction): Promise<ControlResult>;
}

export const CONTROL_LIMITS = {
  /** A stop waits for the daemon's own stop timeout; a start for the spawn. */
  requestTimeoutMs: 120_000,
  maxBodyBytes: 4096,
} as const;

export function controlSocketPath(runDir: string): string {
  return join(runDir, 'supervisor.sock');
}

export function serveControl(runDir: string, target: Controllable): Promise<Server> {
  const server = createServer((req, res) => {
    const m = /^\/v1\/services\/([a-z][a-z0-9-]{0,62})\/(stop|start|restart)$/.exec(req.url ?? '');
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || !m) {
      reply(404, {
        code: 'MK_SERVICE_UNKNOWN',
        message: `no such control request: ${req.method} ${req.url}`,
      });
      return;
    }
    req.resume();
    target.control(m[1]!, m[2] as ControlAction).then(
      (result) => reply(200, result),
      (error: unknown) =>
        reply(error instanceof MicroK8sError ? 400 : 500, {
          code: error instanceof MicroK8sError ? error.code : 'MK_INTERNAL',
          message: (error as Error).message,
        }),
    );
  });
  return new Promise((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(controlSocketPath(runDir), () => resolveListen(server));
  });
}

/** Asks the node's supervisor; MK_SERVICE_RESTART when it refuses or does not answer. */
export function requestControl(
  runDir: string,
  service: string,
  action: ControlAction,
): Promise<ControlResult> {
  return new Promise((resolveRequest, rejectRequest) => {
    const fail = (why: string) =>
      rejectRequest(
        new MicroK8sError('MK_SERVICE_RESTART', `the supervisor could not ${action} ${service}: ${why}`, {
          service,
        }),
      );
    const req = request(
      {
        socketPath: controlSocketPath(runDir),
        path: `/v1/services/${service}/${action}`,
        method: 'POST',
        timeout: CONTROL_LIMITS.requestTimeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < CONTROL_LIMITS.maxBodyBytes) body += chunk;
        });
        res.on('end', () => {
          try {
            const parsed = JSON.parse(body) as ControlResult & { message?: string };
            if (res.statusCode === 200) resolveRequest(parsed);
            else fail(parsed.message ?? `HTTP ${res.statusCode}`);
          } catch {
            fail(`an answer that is not JSON (HTTP ${res.statusCode})`);
          }
        });
      },
    );
    req.once('timeout', () => req.destroy(new Error('no answer in time')));
    req.once('error', (error) => fail(error.message));
    req.end();
  });
}
