/**
 * The Kubernetes lab's network: one network namespace per node, each with a veth into a bridge
 * this module creates (the bridge holds .254 of the lab's /24 and is each node's default route,
 * as a router would be). The bridge is the one L2 segment of all the nodes, so flanneld's host-gw
 * backend routes each node's pod subnet through that node's address by itself. Processes of a
 * node run inside its namespace through `nsenter --net` (not `ip netns exec`, which remounts
 * /sys and would hide the cgroup hierarchies the kubelet and runc need). With `hostnames`, each
 * node also gets a UTS namespace of its own (persistent, bind-mounted under /run/mk8s-uts), as a
 * machine has its own hostname: kube-apiserver names its identity lease after the hostname, and
 * API servers sharing the host's would overwrite each other's lease.
 * Needs root, iproute2 and util-linux (unshare, nsenter).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { MicroK8sError } from '../../lib/errors.js';

const COMMAND_TIMEOUT_MS = 10_000;

export interface LabNetworkSpec {
  /** Short and unique: every interface name starts with it (15 bytes at most in all). */
  readonly tag: string;
  /** The first three octets of the lab's /24, e.g. '10.201.1'. */
  readonly subnet: string;
  readonly size: number;
  /** The first `controlPlane` nodes are control-plane members; the rest are workers. */
  readonly controlPlane?: number;
  /** Each node's hostname, in order: a UTS namespace per node (absent in older lab files). */
  readonly hostnames?: readonly string[];
}

const UTS_DIR = '/run/mk8s-uts';

function utsFileOf(spec: LabNetworkSpec, index: number): string {
  return `${UTS_DIR}/${namespaceOf(spec, index)}`;
}

function run(command: string, args: string[]): void {
  try {
    execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: COMMAND_TIMEOUT_MS });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? '').trim();
    throw new MicroK8sError(
      'MK_LAB_NETWORK',
      `${command} ${args.join(' ')} failed: ${stderr || (error as Error).message}`,
      {},
    );
  }
}

/** One `ip` command, bounded; a failure is MK_LAB_NETWORK with ip's own message. */
export function ip(...args: string[]): void {
  run('ip', args);
}

export function namespaceOf(spec: LabNetworkSpec, index: number): string {
  return `${spec.tag}-n${index + 1}`;
}

export function addressOf(spec: LabNetworkSpec, index: number): string {
  return `${spec.subnet}.${index + 1}`;
}

/** The bridge every node's veth is plugged into (it holds .254, the nodes' default route). */
export function bridgeOf(spec: LabNetworkSpec): string {
  return `${spec.tag}br`;
}

/** The second bridge a partition moves the cut-off nodes to (partition.ts). */
export function cutBridgeOf(spec: LabNetworkSpec): string {
  return `${spec.tag}cut`;
}

/** The host end of node `index`'s veth (the end plugged into a bridge). */
export function hostVethOf(spec: LabNetworkSpec, index: number): string {
  return `${spec.tag}h${index + 1}`;
}

export function launcherOf(spec: LabNetworkSpec, index: number): string[] {
  return [
    'nsenter',
    `--net=/run/netns/${namespaceOf(spec, index)}`,
    ...(spec.hostnames ? [`--uts=${utsFileOf(spec, index)}`] : []),
  ];
}

export function createLabNetwork(spec: LabNetworkSpec): void {
  const bridge = bridgeOf(spec);
  ip('link', 'add', bridge, 'type', 'bridge');
  ip('addr', 'add', `${spec.subnet}.254/24`, 'dev', bridge);
  ip('link', 'set', bridge, 'up');
  for (let i = 0; i < spec.size; i++) {
    const ns = namespaceOf(spec, i);
    const host = hostVethOf(spec, i);
    const inner = `${spec.tag}c${i + 1}`;
    ip('netns', 'add', ns);
    const hostname = spec.hostnames?.[i];
    if (hostname !== undefined) {
      mkdirSync(UTS_DIR, { recursive: true });
      writeFileSync(utsFileOf(spec, i), '');
      run('unshare', [`--uts=${utsFileOf(spec, i)}`, 'hostname', hostname]);
    }
    ip('link', 'add', host, 'type', 'veth', 'peer', 'name', inner);
    ip('link', 'set', inner, 'netns', ns);
    ip('link', 'set', host, 'master', bridge);
    ip('link', 'set', host, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'addr', 'add', `${addressOf(spec, i)}/24`, 'dev', inner);
    ip('-n', ns, 'link', 'set', inner, 'up');
    ip('-n', ns, 'route', 'add', 'default', 'via', `${spec.subnet}.254`);
  }
}

/** Processes still inside a node's namespace. */
export function pidsIn(spec: LabNetworkSpec, index: number): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', namespaceOf(spec, index)], {
      encoding: 'utf8',
      timeout: COMMAND_TIMEOUT_MS,
    })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Removes the namespaces (killing what still runs in them), the veths and the bridge. */
export function destroyLabNetwork(spec: LabNetworkSpec): void {
  for (let i = 0; i < spec.size; i++) {
    for (const pid of pidsIn(spec, i)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const args of [
      ['link', 'del', hostVethOf(spec, i)],
      ['netns', 'delete', namespaceOf(spec, i)],
    ]) {
      try {
        ip(...args);
      } catch {
        // already gone
      }
    }
    if (spec.hostnames) {
      try {
        run('umount', [utsFileOf(spec, i)]);
      } catch {
        // not mounted (a start that failed half-way)
      }
      rmSync(utsFileOf(spec, i), { force: true });
    }
  }
  for (const bridge of [bridgeOf(spec), cutBridgeOf(spec)]) {
    try {
      ip('link', 'del', bridge);
    } catch {
      // already gone (the cut bridge exists only during a partition)
    }
  }
}
