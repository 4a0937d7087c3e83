/**
 * An addon's images on this node before its manifests are applied: what containerd already has
 * is kept; a local build is imported from the image tars of the upstream build (or the snap);
 * an image that is neither is MK_ADDON_IMAGE_MISSING, unless it names a registry a node can
 * pull from (then the kubelet pulls it as usual). An addon marked needsRegistry is stricter:
 * its images cannot be built here, so each must already be in containerd (pulled, imported, or
 * mapped by the images table to one that is), checked before anything is applied.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { resolveUpstreamPaths } from '../lib/upstream-paths.js';
import { ctrImageNames, nodeCtrTarget } from '../services/images/ctr.js';
import { inspectImageFile } from '../services/images/image-archive.js';
import { LOCAL_REGISTRY, parseImageName } from '../services/images/names.js';
import { importImageArchive } from '../services/images/transfer.js';

/** The tar under the images folder that holds `name`, if any. */
async function tarHolding(dir: string, name: string): Promise<string | undefined> {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.tar'));
  } catch {
    return undefined;
  }
  for (const file of files.sort()) {
    const report = await inspectImageFile(join(dir, file)).catch(() => undefined);
    if (report?.images.some((image) => image.name === name)) return join(dir, file);
  }
  return undefined;
}

/** Imports each local image containerd lacks; returns the names imported. */
export async function ensureImages(paths: Paths, names: readonly string[]): Promise<string[]> {
  const target = nodeCtrTarget(paths);
  const present = new Set(await ctrImageNames(target));
  const imported: string[] = [];
  for (const name of names) {
    if (present.has(name)) continue;
    if (parseImageName(name).domain !== LOCAL_REGISTRY) continue;
    const dir = resolveUpstreamPaths().images;
    const tar = await tarHolding(dir, name);
    if (!tar)
      throw new MicroK8sError(
        'MK_ADDON_IMAGE_MISSING',
        `the image ${name} is neither in containerd nor in ${dir}`,
        {
          image: name,
        },
      );
    await importImageArchive(target, tar);
    imported.push(name);
  }
  return imported;
}

/** The images, in order, that are neither present nor a local build (which ensureImages imports). */
export function absentRegistryImages(images: readonly string[], present: ReadonlySet<string>): string[] {
  return images.filter((name) => !present.has(name) && parseImageName(name).domain !== LOCAL_REGISTRY);
}

export interface AddonImages {
  readonly addon: string;
  readonly images: readonly string[];
}

/** MK_ADDON_NEEDS_REGISTRY naming every missing image of the needs-registry addons given. */
export async function checkRegistryImages(paths: Paths, addons: readonly AddonImages[]): Promise<void> {
  if (addons.every((a) => a.images.length === 0)) return;
  const present = new Set(await ctrImageNames(nodeCtrTarget(paths)));
  const missing = addons
    .map((a) => ({ addon: a.addon, images: absentRegistryImages(a.images, present) }))
    .filter((a) => a.images.length > 0);
  if (missing.length === 0) return;
  throw new MicroK8sError(
    'MK_ADDON_NEEDS_REGISTRY',
    `${missing.map((m) => `${m.addon} needs ${m.images.join(', ')}`).join('; ')}: not in containerd, and they cannot be built here (nothing was applied)`,
    { addons: missing.map((m) => m.addon).join(','), images: missing.flatMap((m) => m.images).join(',') },
  );
}
