/**
 * `enable`, `disable` and the addons part of `status`. An enable resolves every named addon and
 * its declared dependencies, checks the arguments, architectures and conflicts, renders and
 * validates every manifest and imports the images BEFORE the cluster-wide lock is taken and
 * anything is applied; then each addon is enabled in dependency order, and a failure rolls back
 * what that addon applied.
 */
import { arch } from 'node:os';
import { agentContext, readDatastoreConfig } from '../cluster/agent/context.js';
import { etcdSocketPath } from '../cluster/agent/datastore-args.js';
import { isMicroK8sError, MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { type AddonArgs, type AddonRequest, parseAddonWords, requireArgs, resolveArgs } from './args.js';
import { type AddonPlugin, Context, nodeFacts, StepError } from './context.js';
import { isEnabled } from './enabled.js';
import { effectiveImageTable } from './image-table.js';
import { checkRegistryImages, ensureImages } from './images.js';
import { KubeClient } from './kube/client.js';
import { adminCredentials } from './kube/kubeconfig.js';
import type { KubeObject } from './kube/object.js';
import { withAddonLock } from './lock.js';
import { loadPlugin } from './plugin-loader.js';
import { renderAddon } from './render.js';
import { repositories } from './repo-store.js';
import { findAddon, type Repository } from './repository.js';
import type { AddonSpec } from './spec.js';

export type Progress = (line: string) => void;

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', s390x: 's390x', ppc64: 'ppc64le' };

interface Planned {
  readonly spec: AddonSpec;
  readonly args: AddonArgs;
  readonly plugin: AddonPlugin;
  readonly objects: KubeObject[];
  readonly images: string[];
}

export interface AddonOutcome {
  readonly name: string;
  readonly result: 'enabled' | 'already-enabled' | 'disabled' | 'already-disabled';
  readonly seconds: number;
}

function etcdSocket(paths: Paths): string {
  const config = readDatastoreConfig(agentContext(paths));
  return config.clientUnix ?? etcdSocketPath(config.dataDir);
}

/** Requests resolved to addons, with their dependencies first (each once). */
export function resolveRequests(
  repos: readonly Repository[],
  requests: readonly AddonRequest[],
): { spec: AddonSpec; args: AddonArgs }[] {
  const named = requests.map((r) => {
    const spec = findAddon(repos, r.requested);
    return { spec, args: resolveArgs(spec, r) };
  });
  const out: { spec: AddonSpec; args: AddonArgs }[] = [];
  const visiting = new Set<string>();
  const visit = (spec: AddonSpec, args: AddonArgs) => {
    if (out.some((o) => o.spec === spec)) return;
    if (visiting.has(spec.name))
      throw new MicroK8sError('MK_ADDON_REPOSITORY', `the dependencies of ${spec.name} form a cycle`);
    visiting.add(spec.name);
    for (const dep of spec.dependencies) {
      const depSpec = findAddon(repos, dep);
      visit(depSpec, named.find((n) => n.spec === depSpec)?.args ?? {});
    }
    out.push({ spec, args });
  };
  for (const n of named) visit(n.spec, n.args);
  for (const o of out) requireArgs(o.spec, o.args);
  return out;
}

function checkArchitecture(spec: AddonSpec): void {
  const here = ARCH[arch()] ?? arch();
  if (!spec.architectures.includes(here))
    throw new MicroK8sError(
      'MK_ADDON_CONFLICT',
      `${spec.name} does not support ${here} (it supports ${spec.architectures.join(', ')})`,
    );
}

function failure(spec: AddonSpec, error: unknown, rollback: string[]): MicroK8sError {
  const step = error instanceof StepError ? error.step : 'enable';
  const cause = error instanceof StepError ? error.error : error;
  const undone =
    rollback.length === 0 ? 'what it applied was rolled back' : `the rollback left: ${rollback.join('; ')}`;
  return new MicroK8sError(
    'MK_ADDON_FAILED',
    `enabling ${spec.name} failed at step '${step}': ${(cause as Error).message}; ${undone}`,
    { addon: spec.name, step, ...(isMicroK8sError(cause) ? { cause: cause.code } : {}) },
  );
}

export async function enableAddons(
  paths: Paths,
  words: readonly string[],
  progress: Progress,
): Promise<AddonOutcome[]> {
  const repos = repositories(paths);
  const requests = parseAddonWords(words);
  const wanted = resolveRequests(repos, requests);
  const explicit = new Set(requests.map((r) => findAddon(repos, r.requested).name));
  for (const { spec } of wanted) checkArchitecture(spec);
  const facts = nodeFacts(paths);
  const table = effectiveImageTable(paths);
  const planned: Planned[] = [];
  for (const { spec, args } of wanted) {
    const plugin = await loadPlugin(spec);
    const vars = plugin.variables?.(facts, args) ?? {};
    planned.push({ spec, args, plugin, ...renderAddon(spec, vars, table) });
  }
  const kube = new KubeClient(adminCredentials(paths));
  try {
    for (const { spec } of planned) {
      for (const conflict of spec.conflicts) {
        const other = findAddon(repos, conflict);
        if (await isEnabled(kube, other, paths))
          throw new MicroK8sError(
            'MK_ADDON_CONFLICT',
            `${spec.name} conflicts with ${other.name}, which is enabled`,
          );
      }
    }
    // Images no build here provides: all of them named at once, before anything is imported.
    await checkRegistryImages(
      paths,
      planned.filter((p) => p.spec.needsRegistry).map((p) => ({ addon: p.spec.name, images: p.images })),
    );
    for (const p of planned) {
      const imported = await ensureImages(paths, p.images);
      for (const image of imported) progress(`${p.spec.name}: imported ${image}`);
    }
    return await withAddonLock(etcdSocket(paths), `enable ${words.join(' ')}`, progress, async () => {
      const outcomes: AddonOutcome[] = [];
      for (const p of planned) {
        const started = Date.now();
        const seconds = () => Math.round((Date.now() - started) / 100) / 10;
        // A dependency already enabled is left alone; a named addon is applied again (new args).
        if (!explicit.has(p.spec.name) && (await isEnabled(kube, p.spec, paths))) {
          outcomes.push({ name: p.spec.name, result: 'already-enabled', seconds: 0 });
          continue;
        }
        progress(`enabling ${p.spec.name}`);
        const ctx = new Context(p.spec, facts, p.objects, kube, progress);
        try {
          if (p.plugin.enable) await p.plugin.enable(ctx, p.args);
          else {
            await ctx.apply(p.objects);
            await ctx.waitRollout();
          }
        } catch (error) {
          progress(`${p.spec.name}: failed; rolling back`);
          throw failure(p.spec, error, await ctx.rollback());
        }
        outcomes.push({ name: p.spec.name, result: 'enabled', seconds: seconds() });
        progress(`${p.spec.name} is enabled (${seconds()} s)`);
      }
      return outcomes;
    });
  } finally {
    await kube.close();
  }
}

export interface DisableOptions {
  readonly purge: boolean;
  readonly force: boolean;
}

export async function disableAddons(
  paths: Paths,
  words: readonly string[],
  options: DisableOptions,
  progress: Progress,
): Promise<AddonOutcome[]> {
  const repos = repositories(paths);
  const requests = parseAddonWords(words);
  const named = requests.map((r) => {
    const spec = findAddon(repos, r.requested);
    return { spec, args: resolveArgs(spec, r) };
  });
  const facts = nodeFacts(paths);
  const kube = new KubeClient(adminCredentials(paths));
  try {
    const all = repos.flatMap((r) => r.addons);
    for (const { spec } of named) {
      if (options.force) break;
      for (const other of all) {
        if (named.some((n) => n.spec === other) || !other.dependencies.includes(spec.name)) continue;
        if (await isEnabled(kube, other, paths))
          throw new MicroK8sError(
            'MK_ADDON_CONFLICT',
            `${other.name} depends on ${spec.name}; disable it first or use --force`,
          );
      }
    }
    const planned: Planned[] = [];
    for (const { spec, args } of named) {
      const plugin = await loadPlugin(spec);
      const vars = plugin.variables?.(facts, args) ?? {};
      planned.push({ spec, args, plugin, ...renderAddon(spec, vars, effectiveImageTable(paths)) });
    }
    return await withAddonLock(etcdSocket(paths), `disable ${words.join(' ')}`, progress, async () => {
      const outcomes: AddonOutcome[] = [];
      for (const p of planned) {
        const started = Date.now();
        const enabled = await isEnabled(kube, p.spec, paths);
        progress(`disabling ${p.spec.name}`);
        const ctx = new Context(p.spec, facts, p.objects, kube, progress);
        const args = options.purge ? { ...p.args, purge: 'true' } : p.args;
        try {
          if (p.plugin.disable) await p.plugin.disable(ctx, args);
          else await ctx.remove(p.objects);
        } catch (error) {
          const step = error instanceof StepError ? error.step : 'disable';
          throw new MicroK8sError(
            'MK_ADDON_FAILED',
            `disabling ${p.spec.name} failed at step '${step}': ${(error as Error).message}`,
            {
              addon: p.spec.name,
              step,
            },
          );
        }
        const seconds = Math.round((Date.now() - started) / 100) / 10;
        outcomes.push({ name: p.spec.name, result: enabled ? 'disabled' : 'already-disabled', seconds });
        progress(`${p.spec.name} is disabled (${seconds} s)`);
      }
      return outcomes;
    });
  } finally {
    await kube.close();
  }
}

export interface AddonStatus {
  readonly name: string;
  readonly repository: string;
  readonly description: string;
  readonly version: string;
  readonly needsRegistry: boolean;
  readonly enabled: boolean;
}

/** Every addon of every repository, enabled or not (read from the cluster, quickly). */
export async function addonStatuses(paths: Paths): Promise<AddonStatus[]> {
  const kube = new KubeClient(adminCredentials(paths), { quick: true });
  try {
    const out: AddonStatus[] = [];
    for (const repo of repositories(paths)) {
      for (const spec of repo.addons) {
        out.push({
          name: spec.name,
          repository: repo.name,
          description: spec.description,
          version: spec.version,
          needsRegistry: spec.needsRegistry,
          enabled: await isEnabled(kube, spec, paths),
        });
      }
    }
    return out;
  } finally {
    await kube.close();
  }
}

/** `status -a NAME`: enabled or disabled. */
export async function addonState(paths: Paths, name: string): Promise<'enabled' | 'disabled'> {
  const spec = findAddon(repositories(paths), name);
  const kube = new KubeClient(adminCredentials(paths));
  try {
    return (await isEnabled(kube, spec, paths)) ? 'enabled' : 'disabled';
  } finally {
    await kube.close();
  }
}

export interface StatusAddons {
  readonly available: boolean;
  readonly enabled: string[];
  readonly disabled: string[];
  readonly lines: string[];
}

/** The addons part of `status`; a cluster that does not answer gives 'unknown', never an error. */
export async function statusAddons(paths: Paths): Promise<StatusAddons> {
  try {
    const statuses = await addonStatuses(paths);
    return {
      available: true,
      enabled: statuses.filter((s) => s.enabled).map((s) => s.name),
      disabled: statuses.filter((s) => !s.enabled).map((s) => s.name),
      lines: formatAddonLines(statuses),
    };
  } catch (error) {
    const why = isMicroK8sError(error) ? error.message : 'the Kubernetes API does not answer';
    return { available: false, enabled: [], disabled: [], lines: ['addons:', `  unknown (${why})`] };
  }
}

export function formatAddonLines(statuses: readonly AddonStatus[]): string[] {
  const lines = ['addons:'];
  for (const state of [true, false]) {
    lines.push(`  ${state ? 'enabled' : 'disabled'}:`);
    const rows = statuses.filter((s) => s.enabled === state);
    if (rows.length === 0) lines.push('    (none)');
    for (const s of rows) {
      const registry = s.needsRegistry ? ' (needs a registry)' : '';
      lines.push(`    ${s.name.padEnd(20)} (${s.repository}) ${s.description}${registry}`);
    }
  }
  return lines;
}
