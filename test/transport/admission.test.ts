/**
 * The peer port under a flood of sockets that never finish a TLS handshake (raw TCP connects that
 * say nothing, re-opened as soon as they are closed): a node that restarts still gets back in,
 * because the flood's sources are capped each and never take the slots kept for members.
 * Flooders dial from 127.0.41.x (many sources) and 127.0.42.1 (one source).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_TRANSPORT_LIMITS } from '../../src/datastore/transport/limits.js';
import {
  hostOf,
  makePki,
  type Node,
  numbered,
  startCluster,
  startNode,
  type TestPki,
  waitFor,
} from './helpers.js';
import { silentFlood } from './silent-flood.js';

const FLOOD_SOCKETS = 500;
const MANY_SOURCES = 100;
const RAMP_MS = 10;
/** Anti-hang guard for the restarted node's first delivery; not a timing claim. */
const HANG_GUARD_MS = 30_000;

const { handshakeTimeoutMs, reconnectMaxMs } = DEFAULT_TRANSPORT_LIMITS;
const NODE_LIMITS = { handshakeTimeoutMs, reconnectMaxMs };

let pki: TestPki;
let nodes: Node[] = [];

test.before(async () => {
  pki = await makePki([1, 2, 3]);
  // The node's own timeouts and backoff, not the unit tests' short ones: the attack is timed
  // against them.
  nodes = await startCluster(pki, [1, 2, 3], { limits: NODE_LIMITS });
});

test.after(async () => {
  await Promise.all(nodes.map((n) => n.transport.stop()));
  await pki.cleanup();
});

const flood = (host: string, port: number) =>
  silentFlood(host, port, {
    count: FLOOD_SOCKETS,
    sourcePrefix: '127.0.41',
    sources: MANY_SOURCES,
    heavy: '127.0.42.1',
    rampMs: RAMP_MS,
  });

test('500 half-open sockets on the peer port do not keep a restarting node out', async () => {
  const [n1, n2, n3] = nodes as [Node, Node, Node];
  for (const n of nodes) for (const m of nodes) if (n !== m) n.transport.send([numbered(n.id, m.id, 1)]);
  await waitFor(() => nodes.every((n) => n.transport.stats().connections === 4), 'full mesh');
  const port3 = n3.transport.port;
  await n3.transport.stop();

  const floods = [flood(hostOf(1), n1.transport.port), flood(hostOf(2), n2.transport.port)];
  try {
    const limits = DEFAULT_TRANSPORT_LIMITS;
    // The ramp is over: every slot an unknown source may take is held.
    await sleep(FLOOD_SOCKETS * RAMP_MS);
    const reborn = await startNode(
      pki,
      3,
      new Map([
        [1, { host: hostOf(1), port: n1.transport.port }],
        [2, { host: hostOf(2), port: n2.transport.port }],
      ]),
      { port: port3, limits: NODE_LIMITS },
    );
    nodes[2] = reborn;
    n1.transport.send([numbered(1, 3, 42)]);
    n2.transport.send([numbered(2, 3, 43)]);
    reborn.transport.send([numbered(3, 1, 44), numbered(3, 2, 45)]);
    await waitFor(
      () =>
        reborn.inbox.some((m) => m.readSeq === 42) &&
        reborn.inbox.some((m) => m.readSeq === 43) &&
        n1.inbox.some((m) => m.readSeq === 44) &&
        n2.inbox.some((m) => m.readSeq === 45),
      'the restarted node exchanges messages both ways',
      HANG_GUARD_MS,
    );
    const admission = n1.transport.inboundAdmission();
    assert.ok(admission.open <= limits.maxInboundConnections, `open ${admission.open}`);
    const refusals = n1.logs.records.filter((r) =>
      /refused a connection on the peer port/.test(String(r.message)),
    );
    assert.ok(refusals.length > 0, 'the refusals are logged');
    assert.ok(
      refusals.length < admission.refused,
      `rate-limited: ${refusals.length} lines for ${admission.refused} refusals`,
    );
    assert.is((refusals[0]!.error as { code?: string }).code, 'MK_LIMIT_EXCEEDED');
  } finally {
    for (const f of floods) f.stop();
  }
});

test.run();
