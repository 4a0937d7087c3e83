/**
 * The system `git`, for addon repositories added from a git URL: clone, fetch, and checkout of
 * a reference (branch, tag or commit) as a detached HEAD. A branch resolves through the remote's
 * branch (origin/NAME), so an update follows it. git never prompts (no terminal, no askpass):
 * a URL that needs credentials fails like an unreachable one instead of hanging.
 */
import { MicroK8sError } from '../lib/errors.js';
import { runFile } from '../lib/run-file.js';

export const GIT_LIMITS = {
  /** One clone or fetch: a repository of manifests is small, a slow link is not. */
  networkMs: 5 * 60_000,
  /** A local command (rev-parse, checkout). */
  localMs: 30_000,
} as const;

/** Does SOURCE name a git repository rather than a folder used in place? */
export function isGitSource(source: string): boolean {
  return (
    /^[a-z][a-z0-9+.-]*:\/\//i.test(source) || /^[^/\s]+@[^/\s]+:/.test(source) || /\.git\/?$/.test(source)
  );
}

const GIT_ENV = {
  ...process.env,
  GIT_TERMINAL_PROMPT: '0',
  GIT_ASKPASS: 'true',
  SSH_ASKPASS: 'true',
  GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
  LC_ALL: 'C',
};

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .pop() ?? ''
  );
}

async function git(args: readonly string[], timeoutMs: number, cwd?: string) {
  try {
    return await runFile('git', args, { timeoutMs, env: GIT_ENV, ...(cwd ? { cwd } : {}) });
  } catch (error) {
    throw new MicroK8sError(
      'MK_ADDON_GIT_UNREACHABLE',
      `git cannot run (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): install git to add a repository from a URL`,
    );
  }
}

/** Clones URL into DIR (which must not exist); MK_ADDON_GIT_UNREACHABLE with git's reason. */
export async function gitClone(url: string, dir: string): Promise<void> {
  const run = await git(['clone', '--quiet', '--no-checkout', '--', url, dir], GIT_LIMITS.networkMs);
  if (run.exitCode !== 0)
    throw new MicroK8sError(
      'MK_ADDON_GIT_UNREACHABLE',
      `cannot clone ${url}: ${run.timedOut ? 'timed out' : lastLine(run.stderr) || `git exited ${run.exitCode}`}`,
      { url },
    );
}

/** Fetches branches and tags again (tags moved upstream replace ours). */
export async function gitFetch(dir: string, url: string): Promise<void> {
  const run = await git(
    ['fetch', '--quiet', '--prune', '--tags', '--force', 'origin'],
    GIT_LIMITS.networkMs,
    dir,
  );
  if (run.exitCode !== 0)
    throw new MicroK8sError(
      'MK_ADDON_GIT_UNREACHABLE',
      `cannot fetch ${url}: ${run.timedOut ? 'timed out' : lastLine(run.stderr) || `git exited ${run.exitCode}`}`,
      { url },
    );
}

async function revParse(dir: string, rev: string): Promise<string | undefined> {
  const run = await git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], GIT_LIMITS.localMs, dir);
  return run.exitCode === 0 ? run.stdout.trim() : undefined;
}

/**
 * The commit a reference names: the remote's branch first (so updates follow it), then a tag
 * or a commit; no reference is the remote's default branch. MK_ADDON_GIT_REFERENCE otherwise.
 */
export async function resolveReference(dir: string, reference: string | undefined): Promise<string> {
  if (reference !== undefined && (reference.startsWith('-') || reference.trim() === ''))
    throw new MicroK8sError('MK_ADDON_GIT_REFERENCE', `'${reference}' is not a git reference`, { reference });
  const candidates =
    reference === undefined
      ? ['refs/remotes/origin/HEAD']
      : [`refs/remotes/origin/${reference}`, `refs/tags/${reference}`, reference];
  for (const candidate of candidates) {
    const commit = await revParse(dir, candidate);
    if (commit) return commit;
  }
  throw new MicroK8sError(
    'MK_ADDON_GIT_REFERENCE',
    reference === undefined
      ? 'the repository has no default branch; name a branch, tag or commit with --reference'
      : `'${reference}' is neither a branch, a tag nor a commit of the repository`,
    { reference: reference ?? '' },
  );
}

/** Checks out COMMIT as a detached HEAD, the work tree made to match it exactly. */
export async function gitCheckout(dir: string, commit: string): Promise<void> {
  const run = await git(['checkout', '--quiet', '--force', '--detach', commit], GIT_LIMITS.localMs, dir);
  if (run.exitCode !== 0)
    throw new MicroK8sError('MK_ADDON_GIT_REFERENCE', `cannot check out ${commit}: ${lastLine(run.stderr)}`);
  await git(['clean', '--quiet', '-d', '--force', '-x'], GIT_LIMITS.localMs, dir);
}

/** The commit checked out in DIR, if it is a git work tree. */
export async function gitHead(dir: string): Promise<string | undefined> {
  return revParse(dir, 'HEAD').catch(() => undefined);
}
