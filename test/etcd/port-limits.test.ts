/**
 * The etcd TLS port's own limits: sockets that never start a TLS handshake are closed after
 * tlsHandshakeTimeoutMs (Node's default would keep them 120 s), and one source address gets at
 * most maxClientConnectionsPerSource sockets; each limit hit is a clear, rate-limited log line.
 * Small limits on a single-node LocalBackend.
 */

import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureClusterCa, issueCertificate } from '../../src/cluster/pki.js';
import { capturingLogger, startHarness, tempDir } from './helpers.js';

const PER_SOURCE = 3;
const HANDSHAKE_MS = 300;
/** Anti-hang guard: a socket the server means to close is closed long before. */
const CLOSE_GUARD_MS = 15_000;

function closed(socket: Socket): Promise<boolean> {
  return new Promise((resolve) => {
    const guard = setTimeout(() => resolve(false), CLOSE_GUARD_MS);
    socket.once('close', () => {
      clearTimeout(guard);
      resolve(true);
    });
  });
}

test('silent sockets are closed after the handshake timeout; one source gets a few', async () => {
  const tmp = tempDir('mk8s-etcd-limits-');
  const capture = capturingLogger();
  const h = await startHarness({
    logger: capture.logger,
    limits: { maxClientConnectionsPerSource: PER_SOURCE, tlsHandshakeTimeoutMs: HANDSHAKE_MS },
  });
  const sockets: Socket[] = [];
  const closings: Promise<boolean>[] = [];
  try {
    const ca = await ensureClusterCa(join(tmp.dir, 'ca'));
    const server = await issueCertificate(ca, join(tmp.dir, 'server'), 'server', {
      commonName: 'etcd',
      ips: ['127.0.0.1'],
      usage: 'server',
    });
    const [bound] = await h.server.listen({
      tcp: {
        host: '127.0.0.1',
        port: 0,
        tls: {
          ca: readFileSync(ca.certPath),
          cert: readFileSync(server.certPath),
          key: readFileSync(server.keyPath),
        },
      },
    });
    for (let i = 0; i < PER_SOURCE + 2; i++) {
      const socket = connect({ host: '127.0.0.1', port: bound!.port! });
      socket.on('error', () => {});
      sockets.push(socket);
      closings.push(closed(socket));
      await new Promise((resolve) => socket.once('connect', resolve));
      await sleep(20);
    }
    const results = await Promise.all(closings);
    assert.equal(
      results,
      sockets.map(() => true),
      'every silent socket is closed by the server',
    );
    const lines = capture.lines.join('\n');
    assert.match(
      lines,
      /refused a connection on the etcd client port: 3 connections from 127\.0\.0\.1 are open/,
    );
    assert.match(lines, /no TLS handshake in time/);
    assert.match(lines, /MK_LIMIT_EXCEEDED/);
  } finally {
    for (const s of sockets) s.destroy();
    await h.close();
    tmp.cleanup();
  }
});

test.run();
