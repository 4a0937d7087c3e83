/**
 * The node's CNI conflist from flanneld's subnet file (src/services/upstream/flannel-cni.ts):
 * written from the file flanneld writes, rewritten when flanneld writes another subnet, and a
 * damaged file refused with MK_FLANNEL_SUBNET_INVALID (nothing written).
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MicroK8sError } from '../../src/lib/errors.js';
import { resolvePaths } from '../../src/lib/paths.js';
import { parseFlannelSubnet, writeFlannelConflist } from '../../src/services/upstream/flannel-cni.js';
import { upstreamLayout } from '../../src/services/upstream/layout.js';

const dir = mkdtempSync(join(tmpdir(), 'mk8s-flannel-cni-'));
const layout = upstreamLayout(resolvePaths({ MICROK8S_HOME: dir }));

/** What flanneld v0.28 writes for a node whose podCIDR is 10.1.<n>.0/24 (host-gw, --ip-masq). */
function subnetFile(n: number, mtu = 1500): string {
  return `FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.${n}.1/24\nFLANNEL_MTU=${mtu}\nFLANNEL_IPMASQ=true\n`;
}

function writeSubnet(text: string): void {
  mkdirSync(dirname(layout.flannelSubnetFile), { recursive: true });
  writeFileSync(layout.flannelSubnetFile, text);
}

interface Conflist {
  name: string;
  plugins: {
    type: string;
    bridge?: string;
    isGateway?: boolean;
    ipMasq?: boolean;
    hairpinMode?: boolean;
    mtu?: number;
    ipam?: { type: string; ranges: { subnet: string; gateway: string }[][]; routes: { dst: string }[] };
    capabilities?: Record<string, boolean>;
  }[];
}

function conflist(): Conflist {
  return JSON.parse(readFileSync(layout.cniConfList, 'utf8')) as Conflist;
}

function throwsSubnetInvalid(text: string, why: RegExp): void {
  try {
    parseFlannelSubnet(text, '/run/flannel/subnet.env');
  } catch (error) {
    assert.instance(error, MicroK8sError);
    assert.is((error as MicroK8sError).code, 'MK_FLANNEL_SUBNET_INVALID');
    assert.match((error as Error).message, why);
    return;
  }
  assert.unreachable(`accepted: ${JSON.stringify(text)}`);
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('the conflist follows the subnet file: bridge gateway, hairpin, MTU, host-local over the subnet, portmap', async () => {
  writeSubnet(subnetFile(3, 1450));
  const line = await writeFlannelConflist(layout);
  assert.match(line, '10.1.3.0/24');
  const conf = conflist();
  const [bridge, portmap] = conf.plugins;
  assert.is(conf.plugins.length, 2);
  assert.is(bridge!.type, 'bridge');
  assert.is(bridge!.isGateway, true);
  assert.is(bridge!.hairpinMode, true);
  assert.is(bridge!.mtu, 1450);
  // flanneld masquerades (FLANNEL_IPMASQ=true): the bridge must not do it twice.
  assert.is(bridge!.ipMasq, false);
  assert.is(bridge!.ipam!.type, 'host-local');
  assert.equal(bridge!.ipam!.ranges, [[{ subnet: '10.1.3.0/24', gateway: '10.1.3.1' }]]);
  assert.equal(bridge!.ipam!.routes, [{ dst: '0.0.0.0/0' }]);
  assert.is(portmap!.type, 'portmap');
  assert.equal(portmap!.capabilities, { portMappings: true });
  // Written atomically: no temporary file is left beside it for containerd to see.
  assert.equal(readdirSync(dirname(layout.cniConfList)), ['10-flannel.conflist']);
});

test('a new subnet file (flanneld restarted with another podCIDR) rewrites it', async () => {
  writeSubnet(subnetFile(7).replace('FLANNEL_IPMASQ=true', 'FLANNEL_IPMASQ=false'));
  await writeFlannelConflist(layout);
  const bridge = conflist().plugins[0]!;
  assert.equal(bridge.ipam!.ranges, [[{ subnet: '10.1.7.0/24', gateway: '10.1.7.1' }]]);
  assert.is(bridge.mtu, 1500);
  // Without flanneld's masquerade the bridge does it.
  assert.is(bridge.ipMasq, true);
});

test('a damaged subnet file is refused with MK_FLANNEL_SUBNET_INVALID, and the conflist is kept', async () => {
  const before = readFileSync(layout.cniConfList, 'utf8');
  writeSubnet('FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUB');
  const error = await writeFlannelConflist(layout).catch((e: unknown) => e);
  assert.instance(error, MicroK8sError);
  assert.is((error as MicroK8sError).code, 'MK_FLANNEL_SUBNET_INVALID');
  assert.match((error as Error).message, layout.flannelSubnetFile);
  assert.is(readFileSync(layout.cniConfList, 'utf8'), before);

  const good = subnetFile(3);
  throwsSubnetInvalid('', /FLANNEL_NETWORK is missing/);
  throwsSubnetInvalid(good.replace('FLANNEL_MTU=1500\n', ''), /FLANNEL_MTU is missing/);
  throwsSubnetInvalid(good.replace('10.1.3.1/24', '10.1.3.1'), /FLANNEL_SUBNET is not an IPv4 CIDR/);
  throwsSubnetInvalid(good.replace('10.1.3.1/24', '10.1.300.1/24'), /FLANNEL_SUBNET is not an IPv4 CIDR/);
  throwsSubnetInvalid(good.replace('10.1.3.1/24', '10.2.3.1/24'), /not inside 10\.1\.0\.0\/16/);
  throwsSubnetInvalid(good.replace('10.1.3.1/24', '10.1.3.0/24'), /no usable gateway/);
  throwsSubnetInvalid(good.replace('FLANNEL_MTU=1500', 'FLANNEL_MTU=15x0'), /FLANNEL_MTU is not an MTU/);
  throwsSubnetInvalid(good.replace('FLANNEL_MTU=1500', 'FLANNEL_MTU=9'), /FLANNEL_MTU is not an MTU/);
  throwsSubnetInvalid(good.replace('FLANNEL_IPMASQ=true', 'FLANNEL_IPMASQ=yes'), /neither true nor false/);
  throwsSubnetInvalid(`${good}garbage\n`, /line 5 is not KEY=VALUE/);
});

test('a missing subnet file is the same error, naming the file', async () => {
  rmSync(layout.flannelSubnetFile);
  const error = await writeFlannelConflist(layout).catch((e: unknown) => e);
  assert.is((error as MicroK8sError).code, 'MK_FLANNEL_SUBNET_INVALID');
  assert.ok(existsSync(layout.cniConfList));
});

test.run();
