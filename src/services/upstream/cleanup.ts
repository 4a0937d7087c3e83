/**
 * What a stopped node must not leave behind: containers (runc's state of containerd's
 * namespaces), the containerd shims that watched them, and the mounts of pods (volumes,
 * rootfs, shm, network namespaces) under the node's folders. Only what belongs to this node is
 * touched: runc's root and the shims whose -address is this node's containerd socket.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { UpstreamPaths } from '../../lib/upstream-paths.js';
import type { UpstreamLayout } from './layout.js';

const run = promisify(execFile);
const CLEANUP_TIMEOUT_MS = 30_000;

async function deleteContainers(
  upstream: UpstreamPaths,
  layout: UpstreamLayout,
  notes: string[],
): Promise<void> {
  let namespaces: string[];
  try {
    namespaces = readdirSync(layout.runcRoot);
  } catch {
    return; // containerd never ran a container here
  }
  const runc = join(upstream.bin, 'runc');
  for (const ns of namespaces) {
    const root = join(layout.runcRoot, ns);
    let ids: string[];
    try {
      const { stdout } = await run(runc, ['--root', root, 'list', '-q'], { timeout: CLEANUP_TIMEOUT_MS });
      ids = stdout.split('\n').filter(Boolean);
    } catch (error) {
      notes.push(`runc list in ${root} failed: ${(error as Error).message.split('\n')[0]}`);
      continue;
    }
    for (const id of ids) {
      try {
        await run(runc, ['--root', root, 'delete', '--force', id], { timeout: CLEANUP_TIMEOUT_MS });
      } catch (error) {
        notes.push(`runc delete ${id} failed: ${(error as Error).message.split('\n')[0]}`);
      }
    }
    if (ids.length > 0) notes.push(`removed ${ids.length} containers of namespace ${ns}`);
  }
}

/** Pids of containerd shims serving this node's containerd (by their -address argument). */
export function shimsOf(containerdSocket: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    if (!argv[0]?.endsWith('containerd-shim-runc-v2')) continue;
    const at = argv.indexOf('-address');
    if (at >= 0 && argv[at + 1] === containerdSocket) pids.push(Number(entry));
  }
  return pids;
}

/** Mount points under any of `roots`, deepest first (so a parent is unmounted after its children). */
export function mountsUnder(roots: readonly string[]): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined)
    .map((point) => point.replace(/\\040/g, ' '))
    .filter((point) => roots.some((root) => point === root || point.startsWith(`${root}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

async function unmountAll(roots: readonly string[], notes: string[]): Promise<void> {
  const points = mountsUnder(roots);
  for (const point of points) {
    try {
      await run('umount', [point], { timeout: CLEANUP_TIMEOUT_MS });
    } catch {
      try {
        await run('umount', ['-l', point], { timeout: CLEANUP_TIMEOUT_MS });
      } catch (error) {
        notes.push(`cannot unmount ${point}: ${(error as Error).message.split('\n')[0]}`);
      }
    }
  }
  if (points.length > 0) notes.push(`unmounted ${points.length} pod mounts`);
}

export async function cleanupAfterStop(upstream: UpstreamPaths, layout: UpstreamLayout): Promise<string[]> {
  const notes: string[] = [];
  await deleteContainers(upstream, layout, notes);
  const shims = shimsOf(layout.containerdSocket);
  for (const pid of shims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited on its own once its container was deleted
    }
  }
  if (shims.length > 0) notes.push(`stopped ${shims.length} containerd shims`);
  await unmountAll([layout.kubeletRoot, layout.containerdState, layout.containerdRoot], notes);
  return notes;
}
