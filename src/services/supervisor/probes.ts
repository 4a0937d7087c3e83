/** One bounded readiness check of a daemon (see Probe). Never throws: false means not ready. */
import { access } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { type Probe, SUPERVISOR_LIMITS } from './spec.js';

function connects(options: { path: string } | { host: string; port: number }): Promise<boolean> {
  return new Promise((resolveProbe) => {
    const socket = connect(options);
    const done = (ok: boolean) => {
      socket.destroy();
      resolveProbe(ok);
    };
    socket.setTimeout(SUPERVISOR_LIMITS.probeTimeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function answers200(probe: Extract<Probe, { kind: 'http' }>): Promise<boolean> {
  return new Promise((resolveProbe) => {
    const url = new URL(probe.url);
    const tls = url.protocol === 'https:';
    const options = {
      method: 'GET',
      timeout: SUPERVISOR_LIMITS.probeTimeoutMs,
      ...(tls
        ? { ca: probe.ca, cert: probe.cert, key: probe.key, rejectUnauthorized: probe.ca !== undefined }
        : {}),
    };
    const req = (tls ? httpsRequest : httpRequest)(url, options, (res) => {
      res.resume();
      resolveProbe(res.statusCode === 200);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolveProbe(false));
    req.end();
  });
}

export function probeOnce(probe: Probe): Promise<boolean> {
  switch (probe.kind) {
    case 'unix':
      return connects({ path: probe.path });
    case 'tcp':
      return connects({ host: probe.host, port: probe.port });
    case 'http':
      return answers200(probe);
    case 'file':
      return access(probe.path).then(
        () => true,
        () => false,
      );
  }
}
