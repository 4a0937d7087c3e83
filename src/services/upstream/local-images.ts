/**
 * The images built on this machine (the sandbox image and the test image, OCI layouts written
 * by `npm run build:upstream`, or shipped in the snap) imported into containerd's k8s.io
 * namespace before the kubelet starts: with no registry, a pod can only use what is imported.
 * The sandbox image is pinned, so the kubelet's image garbage collection never removes it.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { UpstreamPaths } from '../../lib/upstream-paths.js';
import { type CtrTarget, ctrImageNames } from '../images/ctr.js';
import { inspectImageFile } from '../images/image-archive.js';
import { SANDBOX_IMAGE } from '../images/names.js';
import { importImageArchive } from '../images/transfer.js';

/** Imports each local image tar whose images containerd lacks; returns what failed. */
export async function importLocalImages(upstream: UpstreamPaths, target: CtrTarget): Promise<string[]> {
  const problems: string[] = [];
  let tars: string[];
  try {
    tars = readdirSync(upstream.images).filter((name) => name.endsWith('.tar'));
  } catch {
    return [
      `no local images at ${upstream.images}: run npm run build:upstream (pods cannot start without ${SANDBOX_IMAGE})`,
    ];
  }
  const present = new Set(await ctrImageNames(target));
  for (const tar of tars.sort()) {
    const file = join(upstream.images, tar);
    try {
      const report = await inspectImageFile(file);
      const names = report.images.map((image) => image.name).filter((name): name is string => name !== null);
      if (names.length > 0 && names.every((name) => present.has(name))) continue;
      await importImageArchive(target, file, { pinned: names.includes(SANDBOX_IMAGE) });
    } catch (error) {
      problems.push(`cannot import ${file}: ${(error as Error).message}`);
    }
  }
  if (!present.has(SANDBOX_IMAGE) && !(await ctrImageNames(target)).includes(SANDBOX_IMAGE)) {
    problems.push(`the sandbox image ${SANDBOX_IMAGE} is not in containerd: pods cannot start`);
  }
  return problems;
}
