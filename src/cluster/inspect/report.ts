/**
 * `microk8s inspect`: a tarball a person can read and attach to a bug report. report.txt lists
 * every finding (problems first, each with a hint), then the facts; beside it the args files,
 * the supervisor report and the last lines of each service's log. Key material is never
 * included: certificates are described, not copied.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Paths } from '../../lib/paths.js';
import { utcStamp } from '../../lib/process.js';
import { resolveUpstreamPaths } from '../../lib/upstream-paths.js';
import { type TarEntry, writeTar } from '../../services/images/tar-write.js';
import { supervisorReportPath } from '../../services/supervisor/state.js';
import {
  checkArgsFiles,
  checkBinaries,
  checkCerts,
  checkCgroups,
  checkDatastore,
  checkDisk,
  checkHost,
  checkMemory,
  checkServices,
  type Finding,
} from './checks.js';

export const INSPECT_LIMITS = {
  /** The end of each log kept in the tarball. */
  logTailBytes: 64 * 1024,
  /** Args files larger than this are not copied (they are not args files). */
  maxArgsFileBytes: 256 * 1024,
} as const;

export interface InspectResult {
  readonly tarball: string;
  readonly findings: readonly Finding[];
  readonly problems: number;
}

function tail(path: string, bytes: number): Buffer {
  const data = readFileSync(path);
  return data.length <= bytes ? data : data.subarray(data.length - bytes);
}

function files(dir: string, filter: (name: string) => boolean): string[] {
  try {
    return readdirSync(dir).filter((name) => filter(name) && statSync(join(dir, name)).isFile());
  } catch {
    return [];
  }
}

export function formatFindings(findings: readonly Finding[]): string {
  const problems = findings.filter((f) => !f.ok);
  const lines = [`microk8s inspect: ${problems.length} problem(s) found`, ''];
  if (problems.length > 0) {
    lines.push('PROBLEMS');
    for (const f of problems)
      lines.push(`  [!] ${f.area}: ${f.detail}`, `      hint: ${f.hint ?? 'see the logs'}`);
    lines.push('');
  }
  lines.push('ALL CHECKS');
  for (const f of findings) lines.push(`  ${f.ok ? '[ok]' : '[!] '} ${f.area}: ${f.detail}`);
  return `${lines.join('\n')}\n`;
}

export async function inspectNode(paths: Paths, outputDir: string): Promise<InspectResult> {
  const upstream = resolveUpstreamPaths();
  const findings: Finding[] = [
    ...checkServices(paths),
    ...checkArgsFiles(paths),
    ...checkBinaries(upstream),
    ...(await checkDatastore(paths)),
    ...(await checkCerts(paths)),
    ...checkDisk(paths),
    ...checkMemory(),
    ...checkCgroups(),
    ...checkHost(),
  ];
  const root = `inspection-report-${utcStamp()}`;
  const entries: TarEntry[] = [
    { type: 'dir', path: root, mode: 0o755 },
    { type: 'file', path: `${root}/report.txt`, mode: 0o644, data: Buffer.from(formatFindings(findings)) },
    {
      type: 'file',
      path: `${root}/findings.json`,
      mode: 0o644,
      data: Buffer.from(JSON.stringify(findings, null, 2)),
    },
  ];
  try {
    entries.push({
      type: 'file',
      path: `${root}/supervisor.json`,
      mode: 0o644,
      data: readFileSync(supervisorReportPath(paths.run)),
    });
  } catch {
    // never started: said in the findings
  }
  for (const name of files(paths.args, (n) => !n.startsWith('.'))) {
    const path = join(paths.args, name);
    if (statSync(path).size <= INSPECT_LIMITS.maxArgsFileBytes) {
      entries.push({ type: 'file', path: `${root}/args/${name}`, mode: 0o644, data: readFileSync(path) });
    }
  }
  for (const name of files(paths.logs, (n) => n.endsWith('.log'))) {
    entries.push({
      type: 'file',
      path: `${root}/logs/${name}`,
      mode: 0o644,
      data: tail(join(paths.logs, name), INSPECT_LIMITS.logTailBytes),
    });
  }
  const tarball = join(outputDir, `${root}.tar.gz`);
  await writeFile(tarball, gzipSync(writeTar(entries)), { mode: 0o600 });
  return { tarball, findings, problems: findings.filter((f) => !f.ok).length };
}
