/**
 * `refresh-address`: the lines it prints and when it fails, beside the library call. A check
 * (--check) reports a gone address and exits 0; following one that cannot be followed (several
 * candidates, or none) is an error with its own code.
 */
import { MicroK8sError } from '../../lib/errors.js';
import type { RefreshAddressResult } from './refresh.js';

export function formatRefreshAddress(result: RefreshAddressResult, check: boolean): string[] {
  const d = result.decision;
  const out: string[] = [];
  if (d.kind === 'unchanged') out.push(`the address ${d.address} is unchanged (${d.interface})`);
  if (d.kind === 'not-watched') out.push(`nothing to follow: ${d.reason}`);
  if (d.kind === 'changed' && result.applied === undefined)
    out.push(`the address changed: ${d.from} -> ${d.to} (${d.interface}, rule ${d.rule})`);
  if (result.applied) {
    const a = result.applied;
    out.push(`followed the address change ${a.from} -> ${a.to}`);
    for (const flag of a.datastoreFlags) out.push(`  datastore --${flag}`);
    if (a.agentBind) out.push(`  cluster agent --bind=${a.agentBind} (restart the agent unless it did this)`);
    for (const c of a.certificates) out.push(`  certificate ${c.name}: ${c.action}`);
    const ds = a.datastore;
    out.push(
      a.datastorePid !== undefined
        ? `  datastore restarted (pid ${a.datastorePid})`
        : 'reason' in ds
          ? `  datastore: restart it (${ds.reason})`
          : `  datastore: ${ds.kind}`,
    );
  }
  if (check && d.kind === 'ambiguous')
    out.push(`the address ${d.from} is gone; candidates: ${d.candidates.join(', ')}`);
  if (check && d.kind === 'missing') out.push(`the address ${d.from} is gone; no other is usable`);
  return out;
}

/** The error of a refresh that had to follow a gone address and could not (none for a check). */
export function refreshAddressFailure(
  result: RefreshAddressResult,
  check: boolean,
): MicroK8sError | undefined {
  const d = result.decision;
  if (check) return undefined;
  if (d.kind === 'ambiguous') {
    return new MicroK8sError(
      'MK_ADDRESS_AMBIGUOUS',
      `the address ${d.from} is gone and several could replace it: ${d.candidates.join(', ')}`,
      { candidates: d.candidates },
    );
  }
  if (d.kind === 'missing')
    return new MicroK8sError('MK_ADDRESS_MISSING', `the address ${d.from} is gone and no other is usable`);
  return undefined;
}
