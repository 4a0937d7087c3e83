/** Text rendering of the lab's status table (commands print it; --json prints the data). */
import type { LabNodeStatus } from './lab.js';

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
    n.dataDir,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
