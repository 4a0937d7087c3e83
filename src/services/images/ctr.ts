/**
 * The images side of containerd, through its own client `ctr` in the `k8s.io` namespace (the
 * one the kubelet's CRI uses). The binary and the socket are parameters: the node decides where
 * they are (src/lib/paths.ts). Before each call the socket is probed, so a node whose containerd
 * is down gets MK_CONTAINERD_UNAVAILABLE instead of ctr's dial error after its own timeout.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { MicroK8sError } from '../../lib/errors.js';
import { type Environment, type Paths, resolvePaths } from '../../lib/paths.js';
import { runFile } from '../../lib/run-file.js';
import { resolveUpstreamPaths } from '../../lib/upstream-paths.js';
import { upstreamLayout } from '../upstream/layout.js';

export interface CtrTarget {
  /** The ctr binary. */
  readonly ctrPath: string;
  /** containerd's socket. */
  readonly address: string;
}

export const K8S_NAMESPACE = 'k8s.io';
/** CRI keeps images with this label out of the kubelet's image garbage collection. */
export const PINNED_LABEL = 'io.cri-containerd.pinned=pinned';

export const CTR_LIMITS = {
  /** How long the socket probe waits for containerd to accept. */
  probeMs: 2_000,
  /** One import or export: large archives on slow disks take minutes. */
  transferMs: 15 * 60_000,
  /** A listing. */
  listMs: 30_000,
  /** ctr's output kept for error messages. */
  maxOutputBytes: 1024 * 1024,
} as const;

function unavailable(target: CtrTarget, why: string): MicroK8sError {
  return new MicroK8sError('MK_CONTAINERD_UNAVAILABLE', why, {
    address: target.address,
    ctr: target.ctrPath,
  });
}

function probeSocket(address: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ path: address });
    const done = (problem: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(problem);
    };
    const timer = setTimeout(() => done('it did not accept a connection in time'), CTR_LIMITS.probeMs);
    socket.once('connect', () => done(undefined));
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
  });
}

/** MK_CONTAINERD_UNAVAILABLE unless ctr is executable and containerd accepts on its socket. */
export async function ensureContainerd(target: CtrTarget): Promise<void> {
  try {
    await access(target.ctrPath, constants.X_OK);
  } catch {
    throw unavailable(target, `ctr is not installed at ${target.ctrPath}`);
  }
  const problem = await probeSocket(target.address);
  if (problem) throw unavailable(target, `containerd does not answer on ${target.address} (${problem})`);
}

async function ctr(target: CtrTarget, args: readonly string[], timeoutMs: number): Promise<string> {
  await ensureContainerd(target);
  const result = await runFile(
    target.ctrPath,
    ['--address', target.address, '--namespace', K8S_NAMESPACE, ...args],
    {
      timeoutMs,
      maxOutputBytes: CTR_LIMITS.maxOutputBytes,
    },
  ).catch((error: unknown) => {
    // Could not run, or printed more than the limit.
    throw new MicroK8sError(
      'MK_IMAGE_CTR_FAILED',
      `ctr ${args[0]} ${args[1]} failed: ${(error as Error).message}`,
      {},
    );
  });
  if (result.exitCode !== 0) {
    const output = `${result.stdout}\n${result.stderr}`.trim();
    const reason = result.timedOut
      ? `timed out after ${timeoutMs} ms`
      : output.split('\n').slice(-5).join('\n');
    throw new MicroK8sError('MK_IMAGE_CTR_FAILED', `ctr ${args[0]} ${args[1]} failed: ${reason}`, {
      exitCode: result.exitCode,
    });
  }
  return result.stdout;
}

export interface ImportOptions {
  /** Import every platform's content (the archive must then hold all of them). */
  readonly allPlatforms?: boolean;
  /** Keep the images out of the kubelet's image garbage collection (the sandbox image). */
  readonly pinned?: boolean;
  /** containerd's snapshotter to unpack into; its default otherwise. */
  readonly snapshotter?: string;
}

/**
 * Imports an OCI layout or docker-archive tar. No --base-name: the full names in the archive
 * (io.containerd.image.name) are kept as they are; docker's short names become docker.io/...
 */
export async function ctrImport(target: CtrTarget, file: string, options: ImportOptions = {}): Promise<void> {
  const args = ['images', 'import'];
  if (options.allPlatforms) args.push('--all-platforms');
  if (options.pinned) args.push('--label', PINNED_LABEL);
  if (options.snapshotter) args.push('--snapshotter', options.snapshotter);
  args.push('--', file);
  await ctr(target, args, CTR_LIMITS.transferMs);
}

/** Exports images by full name into one OCI layout tar (with docker's manifest.json too). */
export async function ctrExport(
  target: CtrTarget,
  file: string,
  names: readonly string[],
  options: { allPlatforms?: boolean } = {},
): Promise<void> {
  // --local: through the transfer API, ctr (v2.2) can exit before the last bytes of the
  // stream reach the file, leaving a truncated archive; the local export writes it in-process.
  const args = ['images', 'export', '--local'];
  if (options.allPlatforms) args.push('--all-platforms');
  args.push('--', file, ...names);
  await ctr(target, args, CTR_LIMITS.transferMs);
}

/** The full names of the images in the k8s.io namespace. */
export async function ctrImageNames(target: CtrTarget): Promise<string[]> {
  const out = await ctr(target, ['images', 'list', '--quiet'], CTR_LIMITS.listMs);
  return out
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** This node's ctr (lib/upstream-paths.ts) and containerd socket (services/upstream/layout.ts). */
export function nodeCtrTarget(paths: Paths = resolvePaths(), env: Environment = process.env): CtrTarget {
  return {
    ctrPath: join(resolveUpstreamPaths(env).bin, 'ctr'),
    address: upstreamLayout(paths).containerdSocket,
  };
}
