/**
 * Loads an addon's plugin module when the addon is enabled or disabled, never before: a
 * repository's code runs only for the addon the user named. Plugins are TypeScript with
 * erasable syntax only; Node 24 strips the types when it imports them.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MicroK8sError } from '../lib/errors.js';
import type { AddonPlugin } from './context.js';
import type { AddonSpec } from './spec.js';

export async function loadPlugin(spec: AddonSpec): Promise<AddonPlugin> {
  if (spec.plugin === undefined) return {};
  const file = join(spec.dir, spec.plugin);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new MicroK8sError(
      'MK_ADDON_REPOSITORY',
      `cannot load ${spec.name}'s plugin ${file}: ${(error as Error).message}`,
      {
        file,
      },
    );
  }
  for (const name of ['variables', 'enable', 'disable'] as const) {
    if (module[name] !== undefined && typeof module[name] !== 'function')
      throw new MicroK8sError('MK_ADDON_REPOSITORY', `${file}: the export '${name}' is not a function`, {
        file,
      });
  }
  return module as AddonPlugin;
}
