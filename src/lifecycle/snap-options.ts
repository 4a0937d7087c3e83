/**
 * `snap set microk8s args.<service>.<flag>=<value>`: each option under `args` edits that
 * service's args file (the one writer, src/node/args-file.ts). Other options are left to the
 * features that read them; a service outside the catalog is MK_SERVICE_UNKNOWN.
 */
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { editArgsFile } from '../node/args-file.js';
import { serviceArgsFile, serviceSpec } from '../services/catalog.js';

export interface AppliedOption {
  readonly service: string;
  readonly flag: string;
  readonly value: string;
  readonly changed: boolean;
}

export async function applyArgsOptions(
  paths: Paths,
  options: Record<string, unknown>,
): Promise<AppliedOption[]> {
  const args = options.args;
  if (args === undefined) return [];
  if (typeof args !== 'object' || args === null) {
    throw new MicroK8sError('MK_INVALID_CONFIG', 'snap option args must be args.<service>.<flag>=<value>', {
      option: 'args',
    });
  }
  const applied: AppliedOption[] = [];
  for (const [service, flags] of Object.entries(args)) {
    const spec = serviceSpec(service);
    if (typeof flags !== 'object' || flags === null) {
      throw new MicroK8sError('MK_INVALID_CONFIG', `snap option args.${service} must hold flags`, {
        option: `args.${service}`,
      });
    }
    for (const [flag, raw] of Object.entries(flags as Record<string, unknown>)) {
      // `snap set ... args.kubelet.some-flag=true` reads back as JSON true: a bare --some-flag.
      const value = raw === true ? '' : String(raw);
      const result = await editArgsFile(serviceArgsFile(paths, spec.name), { set: { [flag]: value } });
      applied.push({ service, flag, value, changed: result.changed });
    }
  }
  return applied;
}
