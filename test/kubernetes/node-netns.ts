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

  /** Processes still inside (a test that crashed before stopping its node). */
  pids(): number[] {
    try {
      return execFileSync('ip', ['netns', 'pids', this.name], {
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

  destroy(): void {
    for (const pid of this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
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

const INSIDE = 'MK8S_TEST_NETNS';

/**
 * Runs the calling test file again inside a network namespace of its own (created here,
 * deleted when the inner run ends) and exits with its code. Returns the node's address when
 * already inside. Everything the test does then (the node, etcd, its HTTP checks) happens in
 * that namespace, on its address, and nothing reaches the host's network.
 */
export async function inOwnNetns(file: string, address: string): Promise<string> {
  if (process.env[INSIDE]) return process.env[INSIDE];
  const ns = new NodeNamespace(address);
  ns.create();
  const { spawn } = await import('node:child_process');
  const child = spawn(
    'nsenter',
    [`--net=/run/netns/${ns.name}`, process.execPath, ...process.execArgv, file, ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, [INSIDE]: address } },
  );
  const stop = () => child.kill('SIGTERM');
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const code = await new Promise<number>((resolveExit) =>
    child.on('exit', (c, s) => resolveExit(c ?? (s ? 1 : 0))),
  );
  ns.destroy();
  process.exit(code);
}
