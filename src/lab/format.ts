/** Text rendering of the lab's status table (commands print it; --json prints the data). */
import type { LabNodeStatus } from './spec.js';

export function formatLabTable(nodes: readonly LabNodeStatus[]): string {
  const header = [
    'NAME',
    'PID',
    'ADDRESS',
    'PEER',
    'CLIENT',
    'ROLE',
    'STATE',
    'TERM',
    'APPLIED',
    'DOMAIN',
    'WEIGHT',
    'DATA',
  ];
  const rows = nodes.map((n) => [
    n.name,
    n.running ? String(n.pid) : '-',
    n.address,
    String(n.peerPort),
    n.clientEndpoint,
    n.role,
    n.state,
    String(n.term),
    String(n.applied),
    n.failureDomain || '-',
    n.running ? String(n.weight) : '-',
    n.dataDir,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line), '', ...summarizeMembers(nodes)].join('\n');
}

/** The leader's view of the membership: high availability, roles, members offline or dead. */
export function summarizeMembers(nodes: readonly LabNodeStatus[]): string[] {
  const leader = nodes.find((n) => n.state === 'leader');
  if (!leader) return ['high-availability: unknown (no leader answers)'];
  const nameOf = (id: number) => nodes.find((n) => n.id === id)?.name ?? `node${id}`;
  const byRole = (role: string) =>
    leader.members
      .filter((m) => m.role === role)
      .map((m) => nameOf(m.id))
      .join(' ') || '-';
  const voters = leader.members.filter((m) => m.role === 'voter').length;
  const lines = [
    `high-availability: ${voters >= 3 ? 'yes' : 'no'}`,
    `  leader:   ${leader.name}`,
    `  voters:   ${byRole('voter')}`,
    `  standbys: ${byRole('standby')}`,
    `  spares:   ${byRole('spare')}`,
  ];
  for (const m of leader.members) {
    if (m.online !== false) continue;
    const seconds = Math.round((m.offlineMs ?? 0) / 1000);
    lines.push(`  ${m.dead ? 'dead' : 'offline'}: ${nameOf(m.id)} (${m.role}, unheard for ${seconds} s)`);
  }
  return lines;
}

/** What `lab up` prints after its table: an etcdctl line that reaches every node. */
export function formatLabUpHint(
  nodes: readonly LabNodeStatus[],
  tls: { readonly ca: string; readonly cert: string; readonly key: string } | undefined,
): string {
  const credentials = tls ? ` --cacert=${tls.ca} --cert=${tls.cert} --key=${tls.key}` : '';
  return `\nThe lab is up. Try: etcdctl --endpoints=${nodes.map((n) => n.clientEndpoint).join(',')}${credentials} put hello world`;
}
