/**
 * The benches' table: one row per workload, medians with [min-max] over the runs, ratios ours/peer
 * (above 1: ours is better), the target and whether it is met. Used by the compare and kube benches.
 */

const fmt = (n: number) => (Number.isFinite(n) ? (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(1)) : '-');

/** `median [min-max]`, or '-' without figures. */
export function cell(median: number, [min, max]: [number, number]): string {
  return Number.isFinite(median) ? `${fmt(median)} [${fmt(min)}-${fmt(max)}]` : '-';
}

export function ratioCell(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(2)}x` : '-';
}

export function targetCell(target: string | undefined, met: boolean | undefined): string {
  return target === undefined ? '' : `${target} ${met === undefined ? '?' : met ? 'met' : 'MISSED'}`;
}

/** Print aligned columns: the first and the last left-aligned, the figures right-aligned. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ');
  console.log(line(header).trimEnd());
  for (const row of rows) console.log(line(row).trimEnd());
}

/** The errors each system had, one line per system that had any. */
export function printErrors(errors: Record<string, Record<string, number>>): void {
  for (const [system, counts] of Object.entries(errors)) {
    const list = Object.entries(counts).filter(([, n]) => n > 0);
    if (list.length > 0) console.log(`${system}: ${list.map(([k, n]) => `${k}: ${n}`).join('; ')}`);
  }
}

/** "targets met: M of N" over rows that carry a target. */
export function targetsMet(rows: readonly { target?: string; met?: boolean }[]): string {
  const met = rows.filter((r) => r.met === true).length;
  return `targets met: ${met} of ${rows.filter((r) => r.target !== undefined).length}`;
}
