/**
 * The .snap file: a squashfs image of the prime tree, made by Debian's mksquashfs with the
 * options snapd's own packer passes (no appending to an old image, xz, no extended attributes,
 * no fragment blocks, every file owned by root). Written beside the target and renamed into
 * place, so a failed pack never leaves a truncated .snap behind.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { renameSync, rmSync, statSync } from 'node:fs';
import { ensureDebianPackages } from '../build/debian-deps.js';

export const SNAPD_MKSQUASHFS_OPTIONS = [
  '-noappend',
  '-comp',
  'xz',
  '-no-xattrs',
  '-no-fragments',
  '-all-root',
];

/** mksquashfs and unsquashfs, installed from Debian's squashfs-tools when missing. */
export function ensureSquashfsTools(log: (line: string) => void): void {
  const have = spawnSync('sh', ['-c', 'command -v mksquashfs && command -v unsquashfs'], { stdio: 'ignore' });
  if (have.status !== 0) ensureDebianPackages(['squashfs-tools'], log);
}

export interface PackResult {
  readonly file: string;
  readonly bytes: number;
  readonly ms: number;
}

export function packSquashfs(prime: string, file: string): PackResult {
  const temp = `${file}.tmp-${process.pid}`;
  rmSync(temp, { force: true });
  const started = Date.now();
  try {
    execFileSync('mksquashfs', [prime, temp, ...SNAPD_MKSQUASHFS_OPTIONS, '-no-progress', '-quiet'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    rmSync(temp, { force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`mksquashfs failed: ${stderr || (error as Error).message}`);
  }
  renameSync(temp, file);
  return { file, bytes: statSync(file).size, ms: Date.now() - started };
}

/** The paths in a .snap, as `unsquashfs -l` lists them (relative, without its squashfs-root/). */
export function listSquashfs(file: string): string[] {
  const out = execFileSync('unsquashfs', ['-l', file], { maxBuffer: 64 * 1024 * 1024 }).toString();
  return out
    .split('\n')
    .filter((line) => line.startsWith('squashfs-root/'))
    .map((line) => line.slice('squashfs-root/'.length));
}
