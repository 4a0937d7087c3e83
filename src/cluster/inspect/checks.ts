/**
 * What `microk8s inspect` looks at, each as a finding a person can act on: what was seen, and
 * for a problem, a hint. Every check is bounded and never throws: a check that cannot run is a
 * finding too.
 */
import { accessSync, constants, readdirSync, readFileSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { Paths } from '../../lib/paths.js';
import type { UpstreamPaths } from '../../lib/upstream-paths.js';
import { readArgsFile } from '../../node/args-file.js';
import { readSupervisorReport } from '../../services/supervisor/state.js';
import { canLowerOomScore, checkHostSettings } from '../../services/upstream/host-prep.js';
import { checkCertificates } from '../pki/expiry.js';
import { defaultDatastoreDir } from '../status.js';
import { fetchNodeReport } from '../status-admin.js';

export interface Finding {
  readonly area: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly hint?: string;
}

const UPSTREAM_BINARIES = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubelet',
  'kube-proxy',
  'kubectl',
  'containerd',
  'containerd-shim-runc-v2',
  'ctr',
  'runc',
  'flanneld',
];
const CNI_PLUGINS = ['bridge', 'host-local', 'loopback', 'portmap'];

export function checkServices(paths: Paths): Finding[] {
  const report = readSupervisorReport(paths.run);
  if (!report) {
    return [
      {
        area: 'services',
        ok: false,
        detail: 'no supervisor report: the node was never started',
        hint: 'Run `microk8s start`.',
      },
    ];
  }
  return report.services.map((s) => {
    const ok = s.state === 'ready';
    const detail = `${s.state}${s.pid ? ` (pid ${s.pid})` : ''}, ${s.restarts} restarts${s.lastExit ? `, last exit: ${s.lastExit}` : ''}${
      s.warnings.length > 0 ? `; warnings: ${s.warnings.join('; ')}` : ''
    }`;
    return {
      area: `service ${s.name}`,
      ok: ok && s.warnings.length === 0,
      detail,
      ...(ok && s.warnings.length === 0
        ? {}
        : {
            hint: `Read the end of logs/${s.name}.log in this report; \`microk8s stop\` then \`microk8s start\` restarts everything.`,
          }),
    };
  });
}

export function checkArgsFiles(paths: Paths): Finding[] {
  let names: string[];
  try {
    names = readdirSync(paths.args, { withFileTypes: true })
      .filter((e) => e.isFile() && !e.name.startsWith('.') && !e.name.includes('.'))
      .map((e) => e.name);
  } catch {
    return [
      {
        area: 'args',
        ok: false,
        detail: `no args folder at ${paths.args}`,
        hint: 'Run `microk8s start` to set the node up.',
      },
    ];
  }
  return names.sort().map((name) => {
    try {
      const flags = readArgsFile(join(paths.args, name));
      return { area: `args ${name}`, ok: true, detail: `${flags.size} flags` };
    } catch (error) {
      return {
        area: `args ${name}`,
        ok: false,
        detail: (error as Error).message,
        hint: `Fix the named line of ${join(paths.args, name)} (one --flag=value per line), then restart the service.`,
      };
    }
  });
}

export function checkBinaries(upstream: UpstreamPaths): Finding[] {
  const wanted = [
    ...UPSTREAM_BINARIES.map((name) => join(upstream.bin, name)),
    ...CNI_PLUGINS.map((name) => join(upstream.cniBin, name)),
  ];
  return wanted.map((path) => {
    const name = path.slice(path.lastIndexOf('/') + 1);
    try {
      accessSync(path, constants.X_OK);
      return { area: `binary ${name}`, ok: true, detail: path };
    } catch {
      return {
        area: `binary ${name}`,
        ok: false,
        detail: `missing: ${path}`,
        hint: 'Outside a snap, run `npm run build:upstream` in the project folder.',
      };
    }
  });
}

export async function checkDatastore(paths: Paths): Promise<Finding[]> {
  const dir = defaultDatastoreDir(paths);
  const result = await fetchNodeReport(dir, 2_000);
  if (result.report === undefined) {
    return [
      {
        area: 'datastore',
        ok: false,
        detail: `does not answer: ${result.reason}`,
        hint: 'Start the node; see logs/datastore.log.',
      },
    ];
  }
  const r = result.report;
  return [
    {
      area: 'datastore',
      ok: r.leader !== 0,
      detail: `node ${r.id} ${r.state}, leader ${r.leader || 'none'}, term ${r.term}, ${r.members.length} members`,
      ...(r.leader === 0
        ? { hint: 'No leader: a majority of voters is unreachable (see `microk8s status`).' }
        : {}),
    },
  ];
}

export async function checkCerts(paths: Paths): Promise<Finding[]> {
  try {
    return (await checkCertificates(paths.certs)).map((c) => {
      const ok = c.problem === undefined && (c.daysLeft ?? 0) > 30;
      return {
        area: `certificate ${c.name}`,
        ok,
        detail: c.problem ?? `${c.daysLeft} days left (until ${c.notAfter})`,
        ...(ok ? {} : { hint: 'Run `microk8s refresh-certs`, then restart the services.' }),
      };
    });
  } catch (error) {
    return [
      {
        area: 'certificates',
        ok: false,
        detail: (error as Error).message,
        hint: 'Run `microk8s start` to issue them.',
      },
    ];
  }
}

export function checkDisk(paths: Paths): Finding[] {
  return [paths.data, paths.common].map((dir) => {
    try {
      const fs = statfsSync(dir);
      const freeGiB = (Number(fs.bavail) * Number(fs.bsize)) / 2 ** 30;
      const ok = freeGiB > 2;
      return {
        area: `disk ${dir}`,
        ok,
        detail: `${freeGiB.toFixed(1)} GiB free`,
        ...(ok ? {} : { hint: 'Free space: the kubelet evicts pods below 1 GiB.' }),
      };
    } catch (error) {
      return {
        area: `disk ${dir}`,
        ok: false,
        detail: (error as Error).message,
        hint: 'The folder is missing: start the node.',
      };
    }
  });
}

export function checkMemory(): Finding[] {
  try {
    const info = readFileSync('/proc/meminfo', 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    const availableMiB = kb('MemAvailable') / 1024;
    const ok = availableMiB > 512;
    return [
      {
        area: 'memory',
        ok,
        detail: `${availableMiB.toFixed(0)} MiB available of ${(kb('MemTotal') / 1024).toFixed(0)} MiB, swap ${(kb('SwapTotal') / 1024).toFixed(0)} MiB`,
        ...(ok ? {} : { hint: 'Less than 512 MiB available: pods will be evicted.' }),
      },
    ];
  } catch (error) {
    return [{ area: 'memory', ok: false, detail: (error as Error).message }];
  }
}

export function checkCgroups(): Finding[] {
  const findings: Finding[] = [];
  try {
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n');
    const v1 = mounts.filter((l) => l.split(' ')[2] === 'cgroup').map((l) => l.split(' ')[1]);
    const v2 = mounts.filter((l) => l.split(' ')[2] === 'cgroup2').map((l) => l.split(' ')[1]);
    const unified = v2.includes('/sys/fs/cgroup');
    findings.push({
      area: 'cgroups',
      ok: true,
      detail: unified
        ? 'cgroup v2 (unified)'
        : `cgroup v1: ${v1.length} hierarchies${v2.length > 0 ? `, cgroup2 also at ${v2.join(', ')}` : ''}; the kubelet runs with failCgroupV1: false`,
    });
    if (!unified) {
      for (const controller of ['cpu', 'memory', 'pids', 'cpuset']) {
        const present = v1.some((m) => m?.split('/').pop()?.split(',').includes(controller));
        findings.push({
          area: `cgroup ${controller}`,
          ok: present,
          detail: present ? 'mounted' : 'not mounted',
          ...(present ? {} : { hint: `Mount the ${controller} controller: the kubelet needs it.` }),
        });
      }
    }
  } catch (error) {
    findings.push({ area: 'cgroups', ok: false, detail: (error as Error).message });
  }
  return findings;
}

export function checkHost(): Finding[] {
  const findings: Finding[] = checkHostSettings().map((c) => ({
    area: `sysctl ${c.name}`,
    ok: c.ok,
    detail: c.detail,
    ...(c.hint ? { hint: c.hint } : {}),
  }));
  const oom = canLowerOomScore();
  findings.push({
    area: 'capability CAP_SYS_RESOURCE',
    ok: true,
    detail: oom
      ? 'present'
      : 'withheld by this host: containerd keeps pods at or above its own oom_score_adj (restrict_oom_score_adj)',
  });
  return findings;
}
