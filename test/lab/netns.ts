/**
 * A network of our own for partition tests: one network namespace per lab node, each with a veth
 * into a bridge that this file creates (and removes). The test process stays in its namespace
 * and reaches every node through the bridge's address, so it keeps talking to both sides of a
 * partition while the nodes cannot reach each other.
 *
 * A partition is a set of blackhole routes inside the nodes' namespaces: packets from one side
 * to the other are dropped silently, as on a cut link (no reset, no error; TCP connections stall
 * and time out). Healing deletes the routes; stalled connections resume on their next retransmit.
 *
 * Needs root and iproute2 (`ip netns`, veth, bridge); no firewall tool is involved.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export const NETNS_LIMITS = { maxNodes: 9, commandTimeoutMs: 10_000 } as const;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: NETNS_LIMITS.commandTimeoutMs });
}

function ipIn(ns: string, ...args: string[]): void {
  ip('netns', 'exec', ns, 'ip', ...args);
}

export class NetnsNetwork {
  /** Short, random: interface names are at most 15 bytes and several runs may overlap. */
  private readonly tag: string;
  private readonly blocked = new Set<string>();
  private created = 0;
  private bridgeUp = false;

  /** `subnet` is the first three octets of a /24 no host route uses, e.g. '10.213.7'. */
  /** `prefix` starts every name (a test file's own, e.g. 'mk57'); at most 6 characters. */
  constructor(
    private readonly subnet: string,
    private readonly count: number,
    prefix = 'mk',
  ) {
    if (!(count >= 1 && count <= NETNS_LIMITS.maxNodes))
      throw new Error(`1 to ${NETNS_LIMITS.maxNodes} nodes`);
    if (!/^[a-z][a-z0-9]{0,5}$/.test(prefix)) throw new Error(`bad prefix ${prefix}`);
    this.tag = `${prefix}${randomBytes(2).toString('hex')}`;
  }

  namespace(index: number): string {
    return `${this.tag}-n${index + 1}`;
  }

  address(index: number): string {
    return `${this.subnet}.${index + 1}`;
  }

  get baseAddress(): string {
    return this.address(0);
  }

  /** The command prefix that runs a node inside its namespace (for the lab's launcher). */
  launcher(index: number): string[] {
    return ['ip', 'netns', 'exec', this.namespace(index)];
  }

  create(): void {
    const bridge = `${this.tag}br`;
    ip('link', 'add', bridge, 'type', 'bridge');
    this.bridgeUp = true;
    ip('addr', 'add', `${this.subnet}.254/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    for (let i = 0; i < this.count; i++) {
      const ns = this.namespace(i);
      const host = `${this.tag}h${i + 1}`;
      const inner = `${this.tag}c${i + 1}`;
      ip('netns', 'add', ns);
      this.created = i + 1;
      ip('link', 'add', host, 'type', 'veth', 'peer', 'name', inner);
      ip('link', 'set', inner, 'netns', ns);
      ip('link', 'set', host, 'master', bridge);
      ip('link', 'set', host, 'up');
      ipIn(ns, 'link', 'set', 'lo', 'up');
      ipIn(ns, 'addr', 'add', `${this.address(i)}/24`, 'dev', inner);
      ipIn(ns, 'link', 'set', inner, 'up');
    }
  }

  /** Cut every link between the two groups (node indexes), both ways. */
  partition(a: readonly number[], b: readonly number[]): void {
    for (const x of a) {
      for (const y of b) {
        this.block(x, y);
        this.block(y, x);
      }
    }
  }

  private block(from: number, to: number): void {
    const key = `${from}>${to}`;
    if (this.blocked.has(key)) return;
    ipIn(this.namespace(from), 'route', 'add', 'blackhole', `${this.address(to)}/32`);
    this.blocked.add(key);
  }

  heal(): void {
    for (const key of [...this.blocked]) {
      const [from, to] = key.split('>').map(Number) as [number, number];
      ipIn(this.namespace(from), 'route', 'del', 'blackhole', `${this.address(to)}/32`);
      this.blocked.delete(key);
    }
  }

  /**
   * Give node `index` another address inside its namespace, as a DHCP lease or an operator would:
   * the old one deleted, the new one (same /24) added. Nobody is told.
   */
  changeAddress(index: number, from: string, to: string): void {
    const inner = `${this.tag}c${index + 1}`;
    ipIn(this.namespace(index), 'addr', 'del', `${from}/24`, 'dev', inner);
    ipIn(this.namespace(index), 'addr', 'add', `${to}/24`, 'dev', inner);
  }

  /**
   * Delete the host ends of the veth pairs (which takes the namespace ends with them). Deleting a
   * namespace alone does not, while a killed process's orphaned TCP sockets still hold it (a FIN
   * retransmitted to an address that was removed, as after changeAddress); `destroy` calls it.
   */
  removeHostLinks(): void {
    for (let i = 0; i < this.created; i++) {
      try {
        ip('link', 'del', `${this.tag}h${i + 1}`);
      } catch {
        // already gone
      }
    }
  }

  /** Remove everything this network created (deleting a namespace deletes its veth pair). */
  destroy(): void {
    // Host ends first: a namespace whose killed processes left sockets behind outlives
    // `ip netns del`, and its veth links with it.
    this.removeHostLinks();
    for (let i = 0; i < this.created; i++) {
      try {
        ip('netns', 'del', this.namespace(i));
      } catch {
        // already gone
      }
    }
    this.created = 0;
    if (this.bridgeUp) {
      try {
        ip('link', 'del', `${this.tag}br`);
      } catch {
        // already gone
      }
      this.bridgeUp = false;
    }
  }
}
