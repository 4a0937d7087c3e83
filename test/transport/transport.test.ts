import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageType } from '../../src/datastore/raft/types.js';
import { PeerTransport } from '../../src/datastore/transport/peer-transport.js';
import { isMicroK8sError } from '../../src/lib/errors.js';
import {
  append,
  hostOf,
  makePki,
  type Node,
  numbered,
  startCluster,
  type TestPki,
  waitFor,
} from './helpers.js';

let pki: TestPki;
let nodes: Node[] = [];

test.before(async () => {
  pki = await makePki([1, 2, 3]);
  nodes = await startCluster(pki, [1, 2, 3]);
});

test.after(async () => {
  await Promise.all(nodes.map((n) => n.transport.stop()));
  await pki.cleanup();
});

test('three nodes on 127.0.1.1-3 exchange messages in every direction', async () => {
  for (const from of nodes) {
    for (const to of nodes)
      if (from !== to) from.transport.send([numbered(from.id, to.id, from.id * 10 + to.id)]);
  }
  await waitFor(() => nodes.every((n) => n.inbox.length === 2), 'one message from each peer');
  for (const node of nodes) {
    const got = node.inbox.map((m) => `${m.from}->${m.to}:${m.readSeq}`).sort();
    const want = nodes.filter((n) => n !== node).map((n) => `${n.id}->${node.id}:${n.id * 10 + node.id}`);
    assert.equal(got, want.sort());
    node.inbox.length = 0;
  }
  // Each node dialed two peers and accepted two: four connections.
  await waitFor(() => nodes.every((n) => n.transport.stats().connections === 4), 'full mesh');
});

test('outbound connections come from the node address (localAddress)', async () => {
  // The acceptor logs the remote address of every accepted connection.
  for (const node of nodes) {
    const accepted = node.logs.records.filter((r) => r.message === 'accepted a peer connection');
    assert.is(accepted.length, 2, `node ${node.id} accepted two peers`);
    for (const record of accepted) {
      const peer = record.peer as number;
      assert.match(record.remote as string, new RegExp(`^${hostOf(peer).replaceAll('.', '\\.')}:\\d+$`));
    }
  }
});

test('10k messages from each of two senders arrive complete and in order per sender', async () => {
  const COUNT = 10_000;
  const target = nodes[2]!;
  for (const sender of [nodes[0]!, nodes[1]!]) {
    const batch = [];
    for (let i = 1; i <= COUNT; i++) batch.push(append(sender.id, target.id, i));
    sender.transport.send(batch);
  }
  await waitFor(() => target.inbox.length === 2 * COUNT, `${2 * COUNT} messages`, 30_000);
  for (const sender of [1, 2]) {
    const indexes = target.inbox.filter((m) => m.from === sender).map((m) => m.entries![0]!.index);
    assert.is(indexes.length, COUNT);
    for (let i = 0; i < COUNT; i++) {
      if (indexes[i] !== i + 1) assert.unreachable(`sender ${sender}: position ${i} holds ${indexes[i]}`);
    }
  }
  const sample = target.inbox.find((m) => m.from === 1 && m.entries![0]!.index === 777)!;
  assert.equal(sample, append(1, 3, 777), 'payload intact');
  target.inbox.length = 0;
  const stats = nodes[0]!.transport.stats();
  assert.is(stats.dropped, 0);
  assert.ok(stats.sent >= COUNT);
  assert.is(stats.queuedMessages, 0);
});

test('messages to unknown peers are dropped and counted; send never throws for them', () => {
  const before = nodes[0]!.transport.stats().dropped;
  nodes[0]!.transport.send([numbered(1, 9, 1), numbered(1, 42, 2)]);
  assert.is(nodes[0]!.transport.stats().dropped, before + 2);
});

test('a message whose from differs from the connection peer is dropped', async () => {
  const [n1, n2] = nodes as [Node, Node];
  const before = n2.transport.stats().misaddressed;
  // Node 1 forwards a message claiming to come from node 3, then a genuine one.
  n1.transport.send([{ ...numbered(3, 2, 500) }, numbered(1, 2, 501)]);
  await waitFor(() => n2.inbox.some((m) => m.readSeq === 501), 'the genuine message');
  assert.not.ok(
    n2.inbox.some((m) => m.readSeq === 500),
    'the spoofed one is not delivered',
  );
  assert.is(n2.transport.stats().misaddressed, before + 1);
  n2.inbox.length = 0;
});

test('setPeers: removing a peer closes its connection, adding it back restores traffic', async () => {
  const [n1, n2, n3] = nodes as [Node, Node, Node];
  const everyone = new Map(nodes.map((n) => [n.id, { host: hostOf(n.id), port: n.transport.port }]));
  const without3 = new Map(everyone);
  without3.delete(3);
  n1.transport.setPeers(without3);
  await waitFor(() => n1.transport.stats().connections === 3, 'node 1 closed its link to node 3');
  const dropped = n1.transport.stats().dropped;
  n1.transport.send([numbered(1, 3, 900)]);
  assert.is(n1.transport.stats().dropped, dropped + 1);
  n1.transport.setPeers(everyone);
  n1.transport.send([numbered(1, 3, 901), numbered(1, 2, 902)]);
  await waitFor(() => n3.inbox.some((m) => m.readSeq === 901), 'node 3 hears node 1 again');
  await waitFor(() => n2.inbox.some((m) => m.readSeq === 902), 'node 2 still hears node 1');
  assert.not.ok(n3.inbox.some((m) => m.readSeq === 900));
  n2.inbox.length = 0;
  n3.inbox.length = 0;
});

test('setPeers: a readdressed peer is re-dialed at its new address', async () => {
  const [n1, n2] = nodes as [Node, Node];
  const everyone = new Map(nodes.map((n) => [n.id, { host: hostOf(n.id), port: n.transport.port }]));
  // Point node 2 at node 3's address: the dialer must refuse a server that is not node 2.
  n1.transport.setPeers(new Map(everyone).set(2, everyone.get(3)!));
  n1.transport.send([numbered(1, 2, 1000)]);
  await sleep(300);
  assert.not.ok(
    n2.inbox.some((m) => m.readSeq === 1000),
    'nothing reaches an impostor address',
  );
  const mismatch = n1.logs.records.some(
    (r) =>
      r.message === 'cannot connect to peer; retrying with backoff' && /not node-2/.test(String(r.error)),
  );
  assert.ok(mismatch, 'the identity mismatch is logged');
  n1.transport.setPeers(everyone);
  n1.transport.send([numbered(1, 2, 1001)]);
  await waitFor(() => n2.inbox.some((m) => m.readSeq === 1001), 'delivery after readdressing back');
  n2.inbox.length = 0;
});

test('configuration errors are reported with stable codes', () => {
  const base = {
    id: 1,
    clusterId: 'c',
    listen: { host: hostOf(1), port: 0 },
    localAddress: hostOf(1),
    tls: { ca: pki.ca, ...pki.peers.get(1)! },
    peers: new Map(),
  };
  const expectCode = (code: string, options: ConstructorParameters<typeof PeerTransport>[0]) => {
    try {
      new PeerTransport(options);
      assert.unreachable(`expected ${code}`);
    } catch (error) {
      assert.ok(isMicroK8sError(error) && error.code === code, String(error));
    }
  };
  expectCode('MK_TLS', { ...base, id: 2 }); // certificate of node 1 for node 2
  expectCode('MK_TLS', { ...base, tls: { ...base.tls, key: 'garbage' } });
  expectCode('MK_INVALID_CONFIG', { ...base, localAddress: 'localhost' });
  expectCode('MK_INVALID_CONFIG', { ...base, limits: { maxFrameBytes: 10 } });
  expectCode('MK_INVALID_CONFIG', { ...base, limits: { reconnectMinMs: 500, reconnectMaxMs: 100 } });
  expectCode('MK_INVALID_CONFIG', { ...base, peers: new Map([[0, { host: hostOf(2), port: 1 }]]) });
  expectCode('MK_INVALID_CONFIG', { ...base, clusterId: '' });
});

test('a busy port is MK_INVALID_CONFIG from start()', async () => {
  const busy = new PeerTransport({
    id: 1,
    clusterId: 'test-cluster',
    listen: { host: hostOf(1), port: nodes[0]!.transport.port },
    localAddress: hostOf(1),
    tls: { ca: pki.ca, ...pki.peers.get(1)! },
    peers: new Map(),
    logger: nodes[0]!.logs.logger,
  });
  try {
    await busy.start();
    assert.unreachable('the port is taken');
  } catch (error) {
    assert.ok(isMicroK8sError(error, 'MK_INVALID_CONFIG'), String(error));
  }
  await busy.stop();
});

test('snapshot-sized messages travel whole', async () => {
  const [n1, n2] = nodes as [Node, Node];
  const chunk = new Uint8Array(2 * 1024 * 1024).map((_, i) => (i * 31) & 0xff);
  const snap = {
    type: MessageType.Snap,
    from: 1,
    to: 2,
    term: 3,
    snapshot: { index: 50, term: 3, conf: { members: [{ id: 1, role: 'voter' as const }] } },
    chunk,
    offset: 0,
    totalBytes: chunk.length,
  };
  n1.transport.send([snap, numbered(1, 2, 7)]);
  await waitFor(() => n2.inbox.length === 2, 'the chunk and the message after it');
  assert.equal(n2.inbox[0], snap);
  n2.inbox.length = 0;
});

test.run();
