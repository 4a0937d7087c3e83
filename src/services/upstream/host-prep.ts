/**
 * What a node's kernel must allow before pods can have a network: IP forwarding, and bridged
 * traffic passing through iptables (kube-proxy's rules must see pod-to-service traffic on the
 * bridge); and enough inotify instances for the kubelet and the other daemons. Done before each kubelet start and checked by `inspect`. A step that cannot be done
 * (a kernel without br_netfilter, a read-only /proc/sys) is returned as a warning with what to
 * do, never skipped silently.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

export interface HostSetting {
  readonly key: string;
  readonly want: string;
  readonly why: string;
  /** The value is a floor: a host that already allows more keeps its own. */
  readonly atLeast?: boolean;
}

export const HOST_SETTINGS: readonly HostSetting[] = [
  { key: 'net/ipv4/ip_forward', want: '1', why: 'pods reach other nodes and the outside' },
  {
    key: 'net/bridge/bridge-nf-call-iptables',
    want: '1',
    why: 'services answer pods on the same bridge (needs br_netfilter)',
  },
  {
    // The kubelet, containerd, kube-apiserver and kube-controller-manager each hold inotify
    // instances (the kubelet's log following among them); the kernel's default of 128 per user
    // runs out with a few nodes on one machine (the lab) or many pods, and kubelets then crash
    // with "inotify_init: too many open files" and `kubectl logs` stalls.
    key: 'fs/inotify/max_user_instances',
    want: '1024',
    atLeast: true,
    why: 'kubelets and log streams have the inotify instances they need',
  },
];

function satisfied(setting: HostSetting, value: string): boolean {
  return setting.atLeast ? Number(value) >= Number(setting.want) : value === setting.want;
}

export interface HostCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly hint?: string;
}

function sysctlPath(key: string): string {
  return `/proc/sys/${key}`;
}

export function checkHostSettings(): HostCheck[] {
  return HOST_SETTINGS.map((setting) => {
    const name = setting.key.replaceAll('/', '.');
    try {
      const value = readFileSync(sysctlPath(setting.key), 'utf8').trim();
      return satisfied(setting, value)
        ? { name, ok: true, detail: value }
        : { name, ok: false, detail: value, hint: `sysctl -w ${name}=${setting.want}: ${setting.why}` };
    } catch {
      return {
        name,
        ok: false,
        detail: 'absent',
        hint: `the kernel lacks it (load br_netfilter for the bridge settings): ${setting.why}`,
      };
    }
  });
}

/** Sets what is not set yet; returns a line for each setting that could not be set. */
export function prepareHost(): string[] {
  const warnings: string[] = [];
  for (const setting of HOST_SETTINGS) {
    const name = setting.key.replaceAll('/', '.');
    try {
      if (!satisfied(setting, readFileSync(sysctlPath(setting.key), 'utf8').trim())) {
        writeFileSync(sysctlPath(setting.key), setting.want);
      }
    } catch (error) {
      warnings.push(
        `cannot set ${name}=${setting.want} (${(error as NodeJS.ErrnoException).code}): ${setting.why}`,
      );
    }
  }
  return warnings;
}

const CAP_SYS_RESOURCE = 24;

/**
 * Whether this process may lower an oom_score_adj (CAP_SYS_RESOURCE). Some sandboxed hosts
 * withhold it even from root; containerd must then keep pods' scores at or above its own, or
 * every sandbox fails in runc ("failed to update /proc/self/oom_score_adj").
 */
export function canLowerOomScore(): boolean {
  try {
    const line = readFileSync('/proc/self/status', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('CapEff:'));
    if (!line) return true;
    return (BigInt(`0x${line.slice('CapEff:'.length).trim()}`) & (1n << BigInt(CAP_SYS_RESOURCE))) !== 0n;
  } catch {
    return true; // no /proc: not Linux, nothing to restrict
  }
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/**
 * The kubelet's cgroup root for this node (cgroupRoot in kubelet.yaml): a folder of its own in
 * every cgroup v1 hierarchy, so that two nodes on one machine (the lab, tests) never manage,
 * or clean up, each other's pods. The kubelet refuses a root that does not exist; on v1 a new
 * cpuset group starts with no CPUs and no memory nodes, so the parent's are copied in.
 */
export function ensureCgroupRoot(name: string): string[] {
  const warnings: string[] = [];
  let hierarchies: string[];
  try {
    hierarchies = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .filter((line) => line.split(' ')[2] === 'cgroup')
      .map((line) => line.split(' ')[1]!)
      .filter((mount) => mount.startsWith(`${CGROUP_ROOT}/`));
  } catch (error) {
    return [`cannot read the cgroup mounts: ${(error as Error).message}`];
  }
  if (hierarchies.length === 0) {
    // cgroup v2 only: the kubelet creates its root below the unified hierarchy itself.
    try {
      mkdirSync(`${CGROUP_ROOT}/${name}`, { recursive: true });
    } catch (error) {
      warnings.push(`cannot create the cgroup ${name}: ${(error as Error).message}`);
    }
    return warnings;
  }
  for (const hierarchy of hierarchies) {
    const dir = `${hierarchy}/${name}`;
    try {
      mkdirSync(dir, { recursive: true });
      if (hierarchy.split('/').pop()!.split(',').includes('cpuset')) {
        for (const file of ['cpuset.cpus', 'cpuset.mems']) {
          if (readFileSync(`${dir}/${file}`, 'utf8').trim() === '') {
            writeFileSync(`${dir}/${file}`, readFileSync(`${hierarchy}/${file}`, 'utf8').trim());
          }
        }
      }
    } catch (error) {
      warnings.push(`cannot prepare the cgroup ${dir}: ${(error as Error).message}`);
    }
  }
  return warnings;
}
