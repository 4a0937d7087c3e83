/**
 * An addon's images on this node before its manifests are applied: what containerd already has
 * is kept; a local build is imported from the image tars of the upstream build (or the snap);
 * an image that is neither is MK_ADDON_IMAGE_MISSING, unless it names a registry a node can
 * pull from (then the kubelet pulls it as usual).
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
