/**
 * The Kubernetes lab's network: one network namespace per node, each with a veth into a bridge
 * this module creates (the bridge holds .254 of the lab's /24 and is each node's default route,
 * as a router would be). The bridge is the one L2 segment of all the nodes, so flanneld's host-gw
 * backend routes each node's pod subnet through that node's address by itself. Processes of a
 * node run inside its namespace through `nsenter --net` (not `ip netns exec`, which remounts
 * /sys and would hide the cgroup hierarchies the kubelet and runc need).
 * Needs root and iproute2.
 */
import { execFileSync } from 'node:child_process';
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
}

function ip(...args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: COMMAND_TIMEOUT_MS });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? '').trim();
    throw new MicroK8sError(
      'MK_LAB_NETWORK',
      `ip ${args.join(' ')} failed: ${stderr || (error as Error).message}`,
      {},
    );
  }
}

export function namespaceOf(spec: LabNetworkSpec, index: number): string {
  return `${spec.tag}-n${index + 1}`;
}

export function addressOf(spec: LabNetworkSpec, index: number): string {
  return `${spec.subnet}.${index + 1}`;
}

export function launcherOf(spec: LabNetworkSpec, index: number): string[] {
  return ['nsenter', `--net=/run/netns/${namespaceOf(spec, index)}`];
}

export function createLabNetwork(spec: LabNetworkSpec): void {
  const bridge = `${spec.tag}br`;
  ip('link', 'add', bridge, 'type', 'bridge');
  ip('addr', 'add', `${spec.subnet}.254/24`, 'dev', bridge);
  ip('link', 'set', bridge, 'up');
  for (let i = 0; i < spec.size; i++) {
    const ns = namespaceOf(spec, i);
    const host = `${spec.tag}h${i + 1}`;
    const inner = `${spec.tag}c${i + 1}`;
    ip('netns', 'add', ns);
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
      ['link', 'del', `${spec.tag}h${i + 1}`],
      ['netns', 'delete', namespaceOf(spec, i)],
    ]) {
      try {
        ip(...args);
      } catch {
        // already gone
      }
    }
  }
  try {
    ip('link', 'del', `${spec.tag}br`);
  } catch {
    // already gone
  }
}
