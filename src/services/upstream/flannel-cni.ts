/**
 * The node's CNI network from flanneld's subnet file. flanneld (--kube-subnet-mgr) takes the
 * node's podCIDR from its Node object and writes FLANNEL_NETWORK, FLANNEL_SUBNET, FLANNEL_MTU and
 * FLANNEL_IPMASQ to its subnet file; flannel's CNI plugin would turn that into a bridge network
 * at each pod's start. That plugin is not built here (its module is not served), so this module
 * writes the same network as a conflist once flanneld has written the file: the bridge plugin
 * as the gateway of the node's subnet (hairpin, flannel's MTU), host-local addresses from the
 * subnet, and port mappings. Masquerading is flanneld's (--ip-masq) unless it says it is not.
 * This is the one writer of the conflist; the supervisor runs it when flanneld becomes ready.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { dirname, join } from 'node:path';
import { MicroK8sError } from '../../lib/errors.js';
import { writeFileAtomic } from '../../node/atomic-write.js';
import type { UpstreamLayout } from './layout.js';

export interface FlannelSubnet {
  /** The cluster's pod network, e.g. 10.1.0.0/16. */
  readonly network: string;
  /** This node's pod subnet, e.g. 10.1.3.0/24. */
  readonly subnet: string;
  /** The subnet's first address: the bridge's, the pods' gateway (flannel writes it as 10.1.3.1/24). */
  readonly gateway: string;
  readonly mtu: number;
  /** Whether flanneld masquerades traffic that leaves the pod network. */
  readonly ipMasq: boolean;
}

/** The bridge on the node that every pod's veth joins. */
export const POD_BRIDGE = 'mk8s0';

const MTU_MIN = 68;
const MTU_MAX = 65_535;

function damaged(path: string, why: string): MicroK8sError {
  return new MicroK8sError('MK_FLANNEL_SUBNET_INVALID', `flannel subnet file ${path}: ${why}`, { path });
}

interface Cidr {
  readonly address: number;
  readonly prefix: number;
}

function parseCidr(text: string): Cidr | undefined {
  const match = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  if (!match || !isIPv4(match[1]!)) return undefined;
  const prefix = Number(match[2]);
  if (prefix > 32) return undefined;
  const address = match[1]!.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  return { address, prefix };
}

function networkOf(cidr: Cidr): number {
  const size = 2 ** (32 - cidr.prefix);
  return cidr.address - (cidr.address % size);
}

function dotted(address: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.');
}

/** The subnet file's text (KEY=VALUE lines) checked; MK_FLANNEL_SUBNET_INVALID names what is wrong. */
export function parseFlannelSubnet(text: string, path: string): FlannelSubnet {
  const values = new Map<string, string>();
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw damaged(path, `line ${index + 1} is not KEY=VALUE: ${JSON.stringify(line)}`);
    values.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const need = (key: string): string => {
    const value = values.get(key);
    if (value === undefined) throw damaged(path, `${key} is missing`);
    return value;
  };
  const network = parseCidr(need('FLANNEL_NETWORK'));
  if (!network) throw damaged(path, `FLANNEL_NETWORK is not an IPv4 CIDR: ${need('FLANNEL_NETWORK')}`);
  const subnet = parseCidr(need('FLANNEL_SUBNET'));
  if (!subnet) throw damaged(path, `FLANNEL_SUBNET is not an IPv4 CIDR: ${need('FLANNEL_SUBNET')}`);
  const subnetBase = networkOf(subnet);
  if (
    subnet.prefix < network.prefix ||
    networkOf({ address: subnetBase, prefix: network.prefix }) !== networkOf(network)
  ) {
    throw damaged(path, `FLANNEL_SUBNET ${need('FLANNEL_SUBNET')} is not inside ${need('FLANNEL_NETWORK')}`);
  }
  if (subnet.address === subnetBase || subnet.prefix > 30) {
    throw damaged(path, `FLANNEL_SUBNET ${need('FLANNEL_SUBNET')} names no usable gateway address`);
  }
  const mtuText = need('FLANNEL_MTU');
  const mtu = Number(mtuText);
  if (!/^\d+$/.test(mtuText) || mtu < MTU_MIN || mtu > MTU_MAX) {
    throw damaged(path, `FLANNEL_MTU is not an MTU (${MTU_MIN}..${MTU_MAX}): ${mtuText}`);
  }
  const ipMasqText = need('FLANNEL_IPMASQ');
  if (ipMasqText !== 'true' && ipMasqText !== 'false') {
    throw damaged(path, `FLANNEL_IPMASQ is neither true nor false: ${ipMasqText}`);
  }
  return {
    network: `${dotted(networkOf(network))}/${network.prefix}`,
    subnet: `${dotted(subnetBase)}/${subnet.prefix}`,
    gateway: dotted(subnet.address),
    mtu,
    ipMasq: ipMasqText === 'true',
  };
}

/** The conflist flannel's CNI plugin would produce for this subnet. */
export function flannelConflist(subnet: FlannelSubnet, layout: UpstreamLayout): string {
  const conf = {
    cniVersion: '1.0.0',
    name: 'microk8s',
    plugins: [
      {
        type: 'bridge',
        bridge: POD_BRIDGE,
        isGateway: true,
        // flanneld masquerades (--ip-masq); the bridge does only when flanneld does not.
        ipMasq: !subnet.ipMasq,
        hairpinMode: true,
        mtu: subnet.mtu,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: subnet.subnet, gateway: subnet.gateway }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: join(layout.cniDataDir, 'networks'),
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

/**
 * Reads flanneld's subnet file and (re)writes the node's conflist from it, atomically (containerd
 * watches the folder and must never see half a file). Returns a line for the supervisor's log.
 */
export async function writeFlannelConflist(layout: UpstreamLayout): Promise<string> {
  let text: string;
  try {
    text = await readFile(layout.flannelSubnetFile, 'utf8');
  } catch (error) {
    throw damaged(layout.flannelSubnetFile, `cannot be read (${(error as Error).message})`);
  }
  const subnet = parseFlannelSubnet(text, layout.flannelSubnetFile);
  await mkdir(dirname(layout.cniConfList), { recursive: true });
  await writeFileAtomic(layout.cniConfList, flannelConflist(subnet, layout), { mode: 0o644 });
  return `pod network ${subnet.subnet} (mtu ${subnet.mtu}) written to ${layout.cniConfList}`;
}
