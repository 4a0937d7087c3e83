/**
 * The snap's hooks by name (snap/hooks/NAME runs `microk8s snap-hook NAME`), each one call into
 * this layer, and the lines each prints (snapd keeps a hook's output in its change log).
 */
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { configureHook } from './configure.js';
import { installHook } from './install.js';
import { postRefresh, preRefresh } from './refresh.js';
import { describeDrain } from './refresh-drain.js';
import { gateAutoRefresh } from './refresh-policy.js';
import { removeHook } from './remove.js';

export const HOOK_NAMES = [
  'install',
  'configure',
  'pre-refresh',
  'post-refresh',
  'remove',
  'gate-auto-refresh',
] as const;
export type HookName = (typeof HOOK_NAMES)[number];

export interface HookResult {
  readonly hook: HookName;
  readonly lines: string[];
  readonly result: unknown;
}

export async function runHook(name: string, paths: Paths): Promise<HookResult> {
  if (!paths.inSnap) {
    throw new MicroK8sError('MK_SNAPCTL', `the ${name} hook runs inside the snap only (SNAP is not set)`);
  }
  switch (name) {
    case 'install': {
      const r = await installHook(paths);
      const lines = [`set up on ${r.address}${r.initialised ? ' as a new single-node cluster' : ''}`];
      if (r.launchConfig) lines.push(`launch configuration ${r.launchConfig} applied`);
      if (r.joined) lines.push(`joined as ${r.joined}`);
      if (r.argsChanged.length > 0) lines.push(`args changed: ${r.argsChanged.join(', ')}`);
      if (r.plan)
        lines.push(
          `addons queued until the node is up: ${r.plan.addons.map((a) => `${a.disable ? '-' : ''}${a.name}`).join(', ')}`,
        );
      return { hook: name, result: r, lines };
    }
    case 'configure': {
      const r = await configureHook(paths);
      if (r.kind === 'blocked')
        return { hook: name, result: r, lines: [`blocked: not connected: ${r.missing.join(', ')}`] };
      const lines = [
        `migrations: ${r.migrations.applied.length > 0 ? r.migrations.applied.join(', ') : 'none pending'}`,
        ...r.options.map(
          (o) =>
            `args ${o.service} --${o.flag}${o.value ? `=${o.value}` : ''}${o.changed ? '' : ' (unchanged)'}`,
        ),
        r.started
          ? `started: ${r.started.report.services.map((s) => s.name).join(', ')}`
          : 'the node is stopped: nothing started',
        ...(r.launchQueued ? ['launch configuration addons: the launch-config app enables them'] : []),
      ];
      return { hook: name, result: r, lines };
    }
    case 'pre-refresh': {
      const r = await preRefresh(paths);
      const lines =
        r.kind === 'ready'
          ? [
              `refresh lease ${r.again ? 'held already' : 'taken'} by ${r.lease}`,
              `backup ${r.backup.file}: ${r.backup.keys} keys at revision ${r.backup.revision}` +
                (r.backup.leased > 0 ? ` (${r.backup.leased} on a lease left out)` : ''),
              describeDrain(r.drain),
            ]
          : [r.reason];
      return { hook: name, result: r, lines };
    }
    case 'post-refresh': {
      const r = await postRefresh(paths);
      const lines = [
        `migrations: ${r.migrations.applied.length > 0 ? r.migrations.applied.join(', ') : 'none pending'}`,
        `started: ${r.started.join(', ') || 'nothing (the node is stopped)'}`,
        r.leaseReleased ? 'refresh lease released' : 'no refresh lease held',
      ];
      return { hook: name, result: r, lines };
    }
    case 'gate-auto-refresh': {
      const r = await gateAutoRefresh(paths);
      const lines = r.held
        ? [`refresh held (microk8s refresh-hold): ${r.snapd || 'snapd said nothing'}`]
        : ['no hold: snapd proceeds'];
      return { hook: name, result: r, lines };
    }
    case 'remove': {
      const steps = await removeHook(paths);
      return {
        hook: name,
        result: steps,
        lines: steps.map((s) => `${s.step}: ${s.ok ? '' : 'FAILED '}${s.detail}`),
      };
    }
    default:
      throw new MicroK8sError(
        'MK_INVALID_ARGUMENT',
        `no hook '${name}'; the hooks are ${HOOK_NAMES.join(', ')}`,
      );
  }
}
