/**
 * `microk8s enable metallb:RANGE` on a fresh real node (its own network namespace, as
 * dns-storage.test.ts) with a second link, mlb0 (10.201.61.1/24), whose peer is in a client
 * namespace this file creates (10.201.61.9/24): a LoadBalancer Service gets an address from the
 * range, and the client reaches it over that link, having learnt the address's MAC by ARP from
 * MetalLB's speaker (no interface of the node holds the address; kube-proxy runs in iptables
 * mode). Bad ranges apply nothing; disable removes the objects and the CRDs. Needs root,
 * cgroups and the upstream build with the addon images (`npm run build:upstream`); without
 * them it fails and says why.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KubeNode, until } from '../kubernetes/node-cli.js';
import { inOwnNetns } from '../kubernetes/node-netns.js';
import { busyboxImage, deployWeb, WAITS, waitReady, webManifest } from '../kubernetes/scenario.js';
import { loadBalancerAddress } from './load-balancer.js';

const address = await inOwnNetns(new URL(import.meta.url).pathname, '10.200.62.2');
const node = new KubeNode('mk8s-metallb');
const RANGE = '10.201.61.240-10.201.61.250';
const NODE_SIDE = { link: 'mlb0', ip: '10.201.61.1' };
const CLIENT = { ns: `mk8s-client-${randomBytes(3).toString('hex')}`, link: 'mlb0c', ip: '10.201.61.9' };
/** Hang guard of one enable or disable (image import, CRDs, rollouts). */
const ADDON_COMMAND_MS = 8 * 60_000;
const IP_COMMAND_MS = 10_000;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', timeout: IP_COMMAND_MS });
}

test.after(async () => {
  if (node.started) await node.run(['stop']);
  rmSync(node.home, { recursive: true, force: true });
  try {
    ip('netns', 'delete', CLIENT.ns);
  } catch {
    // never made
  }
});

function inRange(candidate: string): boolean {
  const last = Number(candidate.split('.')[3]);
  return candidate.startsWith('10.201.61.') && last >= 240 && last <= 250;
}

/** GET from the client namespace, over the second link only (curl's own hang guard). */
function clientGet(url: string): string | undefined {
  try {
    return execFileSync(
      'nsenter',
      [`--net=/run/netns/${CLIENT.ns}`, 'curl', '--silent', '--fail', '--max-time', '5', url],
      { encoding: 'utf8', timeout: 15_000 },
    );
  } catch {
    return undefined;
  }
}

test('a fresh node starts; a client namespace is on its second link', async () => {
  await node.ok(['start', '--address', address]);
  await waitReady(node);
  // This process is in the node's namespace: the node's end stays here, the other goes out.
  ip('netns', 'add', CLIENT.ns);
  ip('link', 'add', NODE_SIDE.link, 'type', 'veth', 'peer', 'name', CLIENT.link, 'netns', CLIENT.ns);
  ip('addr', 'add', `${NODE_SIDE.ip}/24`, 'dev', NODE_SIDE.link);
  ip('link', 'set', NODE_SIDE.link, 'up');
  ip('-n', CLIENT.ns, 'addr', 'add', `${CLIENT.ip}/24`, 'dev', CLIENT.link);
  ip('-n', CLIENT.ns, 'link', 'set', CLIENT.link, 'up');
  ip('-n', CLIENT.ns, 'link', 'set', 'lo', 'up');
});

test('bad or missing ranges are refused with MK_ADDON_ARGS and nothing is applied', async () => {
  for (const words of [
    ['enable', 'metallb'],
    ['enable', 'metallb:10.201.61.250-10.201.61.240'],
    ['enable', 'metallb:10.201.61.240-10.201.61.250,10.201.61.245/32'],
    ['enable', 'metallb:10.201.61.0/23'],
    ['enable', 'metallb:not-a-range'],
  ]) {
    const run = await node.run([...words, '--json']);
    assert.is.not(run.code, 0, run.stdout);
    assert.is(
      (JSON.parse(run.stdout) as { error: { code: string } }).error.code,
      'MK_ADDON_ARGS',
      words.join(' '),
    );
  }
  const crds = await node.kubectl('get', 'crd', '-o', 'name');
  assert.not.match(crds, /metallb\.io/);
  assert.is((await node.kubectl('get', 'namespace', 'metallb-system', '--ignore-not-found')).trim(), '');
});

test('enable metallb:RANGE returns once the controller and the speaker run', async () => {
  const started = Date.now();
  const run = await node.run(['enable', `metallb:${RANGE}`], ADDON_COMMAND_MS);
  const seconds = (Date.now() - started) / 1000;
  assert.is(run.code, 0, run.stdout + run.stderr);
  console.log(`enable metallb: ${seconds.toFixed(1)} s\n${run.stdout.trim()}`);
  assert.is((await node.ok(['status', '-a', 'metallb'])).trim(), 'enabled');
  const pool = await node.kubectlJson<{ spec: { addresses: string[] } }>(
    'get',
    'ipaddresspool',
    'default-addresspool',
    '-n',
    'metallb-system',
  );
  assert.equal(pool.spec.addresses, [RANGE]);
});

test('a LoadBalancer Service gets an address from the range; a client on the link reaches it', async () => {
  const manifest = join(node.home, 'web.json');
  writeFileSync(manifest, webManifest(await busyboxImage(node)));
  await deployWeb(node, manifest);
  await node.kubectl('patch', 'service', 'web', '-p', '{"spec":{"type":"LoadBalancer"}}');
  const lbIp = await loadBalancerAddress(node, 'web');
  console.log(`web got ${lbIp}`);
  assert.ok(inRange(lbIp), lbIp);
  const body = await until(`GET http://${lbIp}/ from the client namespace`, WAITS.rolloutMs, async () =>
    clientGet(`http://${lbIp}/`),
  );
  assert.match(body, /^hello from web-/);
  // The client learnt the address's MAC by ARP on its link: the node's end of it (the speaker
  // answered; no interface there holds the address).
  const nodeMac = JSON.parse(ip('-j', 'link', 'show', NODE_SIDE.link))[0].address as string;
  const neighbours = JSON.parse(ip('-j', '-n', CLIENT.ns, 'neigh', 'show', lbIp)) as {
    dst: string;
    lladdr?: string;
  }[];
  assert.is(neighbours[0]?.lladdr, nodeMac, JSON.stringify(neighbours));
  const holders = ip('-j', 'addr', 'show');
  assert.not.ok(holders.includes(`"${lbIp}"`), 'no interface of the node holds the address');
  const l2 = await node.kubectl('get', 'servicel2statuses', '-n', 'metallb-system', '-o', 'json');
  assert.match(l2, /"serviceName": "web"/);
});

test('disable metallb removes its objects and its CRDs', async () => {
  const run = await node.run(['disable', 'metallb'], ADDON_COMMAND_MS);
  assert.is(run.code, 0, run.stdout + run.stderr);
  assert.is((await node.ok(['status', '-a', 'metallb'])).trim(), 'disabled');
  assert.is((await node.kubectl('get', 'namespace', 'metallb-system', '--ignore-not-found')).trim(), '');
  assert.not.match(await node.kubectl('get', 'crd', '-o', 'name'), /metallb\.io/);
});

test.run();
