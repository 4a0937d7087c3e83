/**
 * A machine of its own for a Kubernetes node under test: a network namespace that this file
 * creates, with loopback and one interface (a veth pair kept inside) holding the node's address (and a default
 * route through it, as a machine has). Every process of the node runs inside it through
 * `nsenter --net` (not `ip netns exec`, which remounts /sys and would hide the cgroup
 * hierarchies the kubelet and runc need). Pods' networks are namespaces inside it, so nothing
 * the node does reaches the host's network, and deleting the namespace removes all of it.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

const COMMAND_TIMEOUT_MS = 10_000;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: COMMAND_TIMEOUT_MS });
}

export class NodeNamespace {
  readonly name: string;

  /** `address` is the node's IPv4 address inside its own namespace (a /24 is routed there). */
  constructor(readonly address: string) {
    this.name = `mk8s-${randomBytes(3).toString('hex')}`;
  }

  create(): void {
    ip('netns', 'add', this.name);
    ip('-n', this.name, 'link', 'set', 'lo', 'up');
    // A veth pair with both ends inside (kernels without the dummy driver have veth).
    ip('-n', this.name, 'link', 'add', 'node0', 'type', 'veth', 'peer', 'name', 'node0p');
    ip('-n', this.name, 'addr', 'add', `${this.address}/24`, 'dev', 'node0');
    ip('-n', this.name, 'link', 'set', 'node0p', 'up');
    ip('-n', this.name, 'link', 'set', 'node0', 'up');
    ip('-n', this.name, 'route', 'add', 'default', 'dev', 'node0');
  }

  /** The prefix that runs a command inside the namespace. */
  launcher(): string[] {
    return ['nsenter', `--net=/run/netns/${this.name}`];
  }

  destroy(): void {
    try {
      ip('netns', 'delete', this.name);
    } catch {
      // already gone
    }
  }
}

if (process.argv[1]?.endsWith('node-netns.ts') && process.argv[2]) {
  // Manual use: node --import tsx test/kubernetes/node-netns.ts ADDRESS -> prints the namespace.
  const ns = new NodeNamespace(process.argv[2]);
  ns.create();
  process.stdout.write(`${ns.name}\n`);
}
