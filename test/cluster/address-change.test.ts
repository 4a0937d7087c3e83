// Following an IP change: the decision (unchanged, changed by each rule, ambiguous, missing,
// loopback) over hand-made interface tables, and the applier on a real node folder (agent init:
// args files and certificates) with an injected table; no datastore runs here.
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import type { NetworkInterfaceInfo } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decideAddress, decideGiven, type InterfaceTable } from '../../src/cluster/address-change/decide.js';
import { refreshAddress } from '../../src/cluster/address-change/refresh.js';
import { AddressWatcher } from '../../src/cluster/address-change/watch.js';
import { agentContext } from '../../src/cluster/agent/context.js';
import { initSingleNode } from '../../src/cluster/agent/node-init.js';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { resolvePaths } from '../../src/lib/paths.js';

function v4(address: string, prefix = 24, internal = false): NetworkInterfaceInfo {
  return {
    address,
    netmask: '',
    family: 'IPv4',
    mac: '00:00:00:00:00:00',
    internal,
    cidr: `${address}/${prefix}`,
  };
}

function v6(address: string, prefix = 64): NetworkInterfaceInfo {
  return {
    address,
    netmask: '',
    family: 'IPv6',
    mac: '00:00:00:00:00:00',
    internal: false,
    cidr: `${address}/${prefix}`,
    scopeid: 0,
  };
}

/** The decision that `from` moved to `to` on `iface`, chosen by `rule`. */
const changed = (from: string, to: string, iface: string, rule: string) => ({
  kind: 'changed',
  from,
  to,
  interface: iface,
  rule,
});

const lo = { lo: [v4('127.0.0.1', 8, true), { ...v6('::1', 128), internal: true }] };

test('unchanged: the configured address is on an interface', () => {
  const table: InterfaceTable = { ...lo, eth0: [v4('10.0.0.5'), v6('fe80::1')] };
  assert.equal(decideAddress('10.0.0.5', table), {
    kind: 'unchanged',
    address: '10.0.0.5',
    interface: 'eth0',
  });
});

test('changed: the only candidate (link-local, loopback and pod-network interfaces do not count)', () => {
  const table: InterfaceTable = {
    ...lo,
    eth0: [v4('10.0.0.9'), v6('fe80::1')],
    cni0: [v4('10.1.0.1')],
    'vxlan.calico': [v4('10.1.2.0', 32)],
    docker0: [v4('172.17.0.1', 16)],
    eth1: [v4('169.254.3.3', 16)],
  };
  assert.equal(decideAddress('10.0.0.5', table), changed('10.0.0.5', '10.0.0.9', 'eth0', 'only-candidate'));
});

test('changed: the one on the interface the old address was last seen on', () => {
  const table: InterfaceTable = { ...lo, eth0: [v4('192.168.7.20')], eth1: [v4('172.20.0.4')] };
  const d = decideAddress('10.0.0.5', table, { interface: 'eth1' });
  assert.equal(d, changed('10.0.0.5', '172.20.0.4', 'eth1', 'same-interface'));
});

test('changed: the one whose subnet contains the old address (no history needed)', () => {
  const table: InterfaceTable = { ...lo, eth0: [v4('10.0.0.77')], eth1: [v4('172.20.0.4')] };
  const d = decideAddress('10.0.0.5', table);
  assert.equal(d, changed('10.0.0.5', '10.0.0.77', 'eth0', 'same-subnet'));
});

test('changed: IPv6 follows IPv6 only', () => {
  const table: InterfaceTable = { ...lo, eth0: [v4('10.0.0.9'), v6('fd00::9'), v6('fe80::2')] };
  const d = decideAddress('fd00::5', table);
  assert.equal(d, changed('fd00::5', 'fd00::9', 'eth0', 'only-candidate'));
});

test('ambiguous: several candidates and no rule picks one; nothing chosen', () => {
  const table: InterfaceTable = { ...lo, eth0: [v4('192.168.7.20')], eth1: [v4('172.20.0.4')] };
  assert.equal(decideAddress('10.0.0.5', table), {
    kind: 'ambiguous',
    from: '10.0.0.5',
    candidates: ['192.168.7.20', '172.20.0.4'],
  });
  // Two on the remembered interface, neither in the old subnet: still ambiguous, among those two.
  const two: InterfaceTable = {
    ...lo,
    eth0: [v4('192.168.7.20'), v4('192.168.8.20')],
    eth1: [v4('172.20.0.4')],
  };
  assert.equal(decideAddress('10.0.0.5', two, { interface: 'eth0' }), {
    kind: 'ambiguous',
    from: '10.0.0.5',
    candidates: ['192.168.7.20', '192.168.8.20'],
  });
});

test('missing: the address is gone and nothing replaces it yet', () => {
  assert.equal(decideAddress('10.0.0.5', { ...lo, eth0: [v6('fe80::1')] }), {
    kind: 'missing',
    from: '10.0.0.5',
  });
});

test('loopback: never gone while a loopback interface covers it; gone when absent from the table', () => {
  const table: InterfaceTable = { ...lo, eth0: [v4('10.0.0.9')] };
  assert.equal(decideAddress('127.0.53.2', table), {
    kind: 'unchanged',
    address: '127.0.53.2',
    interface: 'lo',
  });
  assert.equal(decideAddress('::1', table), { kind: 'unchanged', address: '::1', interface: 'lo' });
  assert.is(decideAddress('127.0.53.2', { eth0: [v4('10.0.0.9')] }).kind, 'changed');
  // A non-internal interface's prefix does not make an address local: only loopback does.
  assert.is(decideAddress('10.0.0.5', { eth0: [v4('10.0.0.9')] }).kind, 'changed');
});

test('not watched: no address, a wildcard, a name', () => {
  assert.is(decideAddress(undefined, lo).kind, 'not-watched');
  assert.is(decideAddress('0.0.0.0', lo).kind, 'not-watched');
  assert.is(decideAddress('localhost', lo).kind, 'not-watched');
});

test('the operator names the address: it must be this machine’s', () => {
  const table: InterfaceTable = { ...lo, eth0: [v4('192.168.7.20')], eth1: [v4('172.20.0.4')] };
  assert.equal(
    decideGiven('10.0.0.5', table, '172.20.0.4'),
    changed('10.0.0.5', '172.20.0.4', 'eth1', 'operator'),
  );
  assert.is(decideGiven('172.20.0.4', table, '172.20.0.4').kind, 'unchanged');
  for (const bad of ['10.9.9.9', 'nope']) {
    try {
      decideGiven('10.0.0.5', table, bad);
      assert.unreachable();
    } catch (error) {
      assert.ok(isMicroK8sError(error) && error.code === 'MK_INVALID_ARGUMENT', String(error));
    }
  }
});

test('the applier: args rewritten (other flags kept), --bind, certificates re-issued for the new IP', async () => {
  const home = await mkdtemp(join(tmpdir(), 'mk8s-addr-unit-'));
  try {
    const ctx = agentContext(resolvePaths({ MICROK8S_HOME: home }));
    await initSingleNode(ctx, { address: '10.0.0.5', hostname: 'node-a', agentPort: 25001 });
    const before = readFileSync(ctx.datastoreArgs, 'utf8');
    const table: InterfaceTable = { ...lo, eth0: [v4('10.0.0.9')] };
    const check = await refreshAddress(ctx, { apply: false, interfaces: () => table });
    assert.is(check.decision.kind, 'changed');
    assert.is(check.applied, undefined);
    assert.is(readFileSync(ctx.datastoreArgs, 'utf8'), before, '--check changes nothing');

    const { decision, applied } = await refreshAddress(ctx, { apply: true, interfaces: () => table });
    assert.is(decision.kind, 'changed');
    assert.ok(applied);
    const args = readFileSync(ctx.datastoreArgs, 'utf8');
    assert.match(args, /^--peer-listen=10\.0\.0\.9:2380$/m);
    assert.match(args, /^--client-tls-listen=10\.0\.0\.9:2379$/m);
    assert.not.match(args, /10\.0\.0\.5/);
    const untouched = (text: string) => text.split('\n').filter((l) => !/listen=/.test(l));
    assert.equal(untouched(args), untouched(before));
    assert.match(readFileSync(ctx.agentArgs, 'utf8'), /^--bind=10\.0\.0\.9:25001$/m);
    assert.equal(applied.agentBind, '10.0.0.9:25001');
    assert.is(applied.datastore.kind, 'not-running');
    const names = applied.certificates.map((c) => c.name);
    assert.ok(names.includes('server') && names.includes('peer'), names.join(','));
    for (const leaf of ['server', 'peer'] as const) {
      const san = new X509Certificate(readFileSync(ctx.certs.leaves[leaf].certPath)).subjectAltName ?? '';
      assert.ok(san.includes('IP Address:10.0.0.9'), san);
      assert.not.ok(san.includes('IP Address:10.0.0.5'), san);
    }
    const server = new X509Certificate(readFileSync(ctx.certs.leaves.server.certPath));
    assert.ok(server.subjectAltName?.includes('DNS:node-a'), 'the hostname is kept');
    // Followed once: the next look finds it unchanged.
    const again = await refreshAddress(ctx, { apply: true, interfaces: () => table });
    assert.equal(again.decision, { kind: 'unchanged', address: '10.0.0.9', interface: 'eth0' });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('the watcher: checks periodically, follows the change once, reports the move, stops', async () => {
  const home = await mkdtemp(join(tmpdir(), 'mk8s-addr-watch-'));
  try {
    const ctx = agentContext(resolvePaths({ MICROK8S_HOME: home }));
    await initSingleNode(ctx, { address: '10.0.0.5', hostname: 'node-a' });
    let table: InterfaceTable = { ...lo, eth0: [v4('10.0.0.5')] };
    const moves: string[] = [];
    const watcher = new AddressWatcher(ctx, {
      intervalMs: 20,
      interfaces: () => table,
      onMoved: async (from, to) => {
        moves.push(`${from}->${to}`);
      },
    });
    await watcher.check();
    assert.equal(moves, []);
    watcher.start();
    table = { ...lo, eth0: [v6('fe80::1')] };
    await sleep(100);
    assert.equal(moves, [], 'nothing to move to yet: left alone');
    table = { ...lo, eth0: [v4('10.0.0.9')] };
    const deadline = Date.now() + 30_000;
    while (moves.length === 0 && Date.now() < deadline) await sleep(20);
    await sleep(100);
    await watcher.stop();
    assert.equal(moves, ['10.0.0.5->10.0.0.9'], 'followed once');
    assert.match(readFileSync(ctx.datastoreArgs, 'utf8'), /^--peer-listen=10\.0\.0\.9:2380$/m);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test.run();
