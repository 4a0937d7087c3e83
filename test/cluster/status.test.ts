// The pure parts of `microk8s status`: args-file addresses and the summary of a node's report.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { summarizeReport } from '../../src/cluster/status.js';
import { formatStatusPretty } from '../../src/cluster/status-format.js';
import { parseArgsFacts } from '../../src/cluster/status-peers.js';
import type { NodeStatusReport } from '../../src/datastore/node/driver.js';

const ARGS = `# datastore args of node2
--id=2
--data-dir=/data/node2
--peer-listen=10.0.0.2:2380
--peer=1=10.0.0.1:2380,http://10.0.0.1:2379,dc1,5
--peer 3=10.0.0.3:2380
--peer=oops
--peer=4=[fd00::4]:2380,,dc2
`;

function report(over: Partial<NodeStatusReport>): NodeStatusReport {
  return {
    id: 2,
    name: 'node2',
    role: 'voter',
    state: 'follower',
    term: 4,
    leader: 1,
    commit: 10,
    applied: 10,
    lastIndex: 10,
    revision: 5,
    members: [
      { id: 1, role: 'voter', failureDomain: 'dc1', weight: 5, draining: false, removal: 'no' },
      { id: 2, role: 'voter', failureDomain: 'dc1', weight: 0, draining: false, removal: 'no' },
      { id: 3, role: 'standby', failureDomain: 'dc2', weight: 0, draining: false, removal: 'no' },
    ],
    targets: {},
    failureDomain: 'dc1',
    weight: 0,
    transport: {},
    log: {},
    ...over,
  };
}

test('args file: both flag spellings, the node itself from --peer-listen, bad lines skipped', () => {
  const facts = parseArgsFacts(ARGS);
  assert.is(facts.dataDir, '/data/node2');
  assert.equal(Object.fromEntries(facts.addresses), {
    1: { peer: '10.0.0.1:2380', clientUrl: 'http://10.0.0.1:2379' },
    2: { peer: '10.0.0.2:2380' },
    3: { peer: '10.0.0.3:2380' },
    4: { peer: '[fd00::4]:2380' },
  });
});

test('a follower: two voters is not HA, liveness unknown, the leader named with its address', () => {
  const s = summarizeReport(report({}), parseArgsFacts(ARGS).addresses, '/data/node2', []);
  assert.is(s.highAvailability, false);
  assert.is(s.ready, true);
  assert.equal(s.datastore.leader, { id: 1, address: '10.0.0.1:2380', self: false });
  assert.equal(
    s.datastore.voters.map((m) => [m.id, m.address, m.leader, m.self]),
    [
      [1, '10.0.0.1:2380', true, false],
      [2, '10.0.0.2:2380', false, true],
    ],
  );
  assert.is(s.datastore.standbys[0]?.id, 3);
  assert.is(s.datastore.offline, null);
  const text = formatStatusPretty(s);
  assert.match(text, /high-availability: no/);
  assert.match(text, /members offline: unknown here .*ask the leader, id 1 \(10\.0\.0\.1:2380\)/);
});

test('the leader: three voters is HA; offline and dead members listed apart', () => {
  const s = summarizeReport(
    report({
      id: 1,
      state: 'leader',
      members: [
        {
          id: 1,
          role: 'voter',
          failureDomain: 'a',
          weight: 0,
          draining: false,
          removal: 'no',
          online: true,
          offlineMs: 0,
          dead: false,
        },
        {
          id: 2,
          role: 'voter',
          failureDomain: 'b',
          weight: 0,
          draining: false,
          removal: 'no',
          online: false,
          offlineMs: 4000,
          dead: false,
        },
        {
          id: 3,
          role: 'voter',
          failureDomain: 'c',
          weight: 0,
          draining: false,
          removal: 'if-offline',
          online: false,
          offlineMs: 9e5,
          dead: true,
        },
      ],
    }),
    new Map(),
    '/d',
    [],
  );
  assert.is(s.highAvailability, true);
  assert.equal(
    s.datastore.offline?.map((m) => m.id),
    [2],
  );
  assert.equal(
    s.datastore.dead?.map((m) => m.id),
    [3],
  );
  const text = formatStatusPretty(s);
  assert.match(text, /\(address unknown\) {2}id 1 {2}a {2}weight 0 {2}\(leader\) \(this node\)/);
  assert.match(text, /members offline: id 2 unheard for 4 s/);
  assert.match(text, /members dead: id 3 unheard for 900 s/);
  assert.match(text, /id 3 {2}c {2}weight 0 {2}\(removal requested: if-offline\)/);
});

test('no leader: not ready, and said so', () => {
  const s = summarizeReport(report({ leader: 0, state: 'candidate' }), new Map(), '/d', []);
  assert.is(s.ready, false);
  assert.is(s.datastore.leader, null);
  assert.match(formatStatusPretty(s), /datastore leader: none/);
});

test.run();
