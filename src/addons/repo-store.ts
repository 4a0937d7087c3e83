/**
 * The repositories added to this node (`microk8s addons repo add NAME PATH|GIT-URL`): a small
 * JSON list under $SNAP_COMMON/addons, written atomically under a lock. A folder is used in
 * place; a git URL is cloned under $SNAP_COMMON/addons/repositories/NAME and checked out at
 * its reference. A repository is checked (its index parsed, its addon folders present) before
 * it is recorded: a clone that fails the check is removed. The core repository is built in
 * and can be neither added nor removed.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { writeFileAtomicSync } from '../node/atomic-write.js';
import { withFileLock } from '../node/lock.js';
import { gitCheckout, gitClone, gitFetch, gitHead, isGitSource, resolveReference } from './git.js';
import { coreRepository, loadRepository, type Repository } from './repository.js';

export interface RepositoryRecord {
  readonly name: string;
  /** The folder read: the user's folder, or our clone of a git repository. */
  readonly path: string;
  /** A git repository's URL (absent for a folder). */
  readonly url?: string;
  /** The branch, tag or commit asked for (absent: the remote's default branch). */
  readonly reference?: string;
}

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function storeDir(paths: Paths): string {
  return join(paths.common, 'addons');
}

function storeFile(paths: Paths): string {
  return join(storeDir(paths), 'repositories.json');
}

/** Where a git repository named NAME is cloned. */
export function cloneDir(paths: Paths, name: string): string {
  return join(storeDir(paths), 'repositories', name);
}

export function readRepositoryRecords(paths: Paths): RepositoryRecord[] {
  let text: string;
  try {
    text = readFileSync(storeFile(paths), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  try {
    const list = JSON.parse(text) as RepositoryRecord[];
    if (!Array.isArray(list)) throw new Error('not a list');
    return list.filter((r) => typeof r?.name === 'string' && typeof r?.path === 'string');
  } catch (error) {
    throw new MicroK8sError(
      'MK_ADDON_REPOSITORY',
      `${storeFile(paths)} is damaged: ${(error as Error).message}`,
    );
  }
}

async function editRecords(
  paths: Paths,
  edit: (records: RepositoryRecord[]) => RepositoryRecord[],
): Promise<void> {
  mkdirSync(storeDir(paths), { recursive: true });
  await withFileLock(join(storeDir(paths), 'repositories.lock'), () => {
    const next = edit(readRepositoryRecords(paths));
    writeFileAtomicSync(storeFile(paths), `${JSON.stringify(next, null, 2)}\n`);
  });
}

function checkName(paths: Paths, name: string): void {
  if (!NAME_RE.test(name) || name === 'core')
    throw new MicroK8sError(
      'MK_ADDON_REPOSITORY',
      `'${name}' cannot name a repository (lowercase letters, digits, '-'; not 'core')`,
    );
  if (readRepositoryRecords(paths).some((r) => r.name === name)) throw exists(name);
}

function exists(name: string): MicroK8sError {
  return new MicroK8sError('MK_ADDON_REPOSITORY', `a repository named '${name}' exists; remove it first`);
}

function record(paths: Paths, entry: RepositoryRecord): Promise<void> {
  return editRecords(paths, (records) => {
    if (records.some((r) => r.name === entry.name)) throw exists(entry.name);
    return [...records, entry];
  });
}

/** Clones URL into a scratch folder beside the final one, checks it, then moves it in place. */
async function cloneChecked(
  paths: Paths,
  name: string,
  url: string,
  reference: string | undefined,
): Promise<Repository> {
  const final = cloneDir(paths, name);
  const scratch = `${final}.adding-${process.pid}`;
  mkdirSync(join(storeDir(paths), 'repositories'), { recursive: true });
  rmSync(scratch, { recursive: true, force: true });
  try {
    await gitClone(url, scratch);
    await gitCheckout(scratch, await resolveReference(scratch, reference));
    loadRepository(name, scratch);
    // A clone nobody records (a repository removed by hand) must not block the name; one
    // recorded meanwhile (a concurrent add) is not ours to replace.
    if (readRepositoryRecords(paths).some((r) => r.name === name)) throw exists(name);
    rmSync(final, { recursive: true, force: true });
    renameSync(scratch, final);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return loadRepository(name, final);
}

export interface AddOptions {
  /** A git repository's branch, tag or commit. */
  readonly reference?: string;
}

export async function addRepository(
  paths: Paths,
  name: string,
  source: string,
  options: AddOptions = {},
): Promise<Repository> {
  checkName(paths, name);
  if (options.reference !== undefined || isGitSource(source)) {
    const repo = await cloneChecked(paths, name, source, options.reference);
    try {
      await record(paths, {
        name,
        path: repo.dir,
        url: source,
        ...(options.reference === undefined ? {} : { reference: options.reference }),
      });
    } catch (error) {
      rmSync(repo.dir, { recursive: true, force: true });
      throw error;
    }
    return repo;
  }
  const dir = isAbsolute(source) ? source : resolve(source);
  const repo = loadRepository(name, dir);
  await record(paths, { name, path: dir });
  return repo;
}

function recordOf(paths: Paths, name: string): RepositoryRecord {
  const found = readRepositoryRecords(paths).find((r) => r.name === name);
  if (!found)
    throw new MicroK8sError('MK_ADDON_UNKNOWN', `no added repository '${name}'`, { repository: name });
  return found;
}

/**
 * A git repository fetched and checked out at its reference again (a branch moves to its new
 * head). The new commit's index is checked first; a broken one leaves the old commit in place.
 */
export async function updateRepository(paths: Paths, name: string): Promise<RepositoryListing> {
  const entry = recordOf(paths, name);
  if (entry.url === undefined)
    throw new MicroK8sError(
      'MK_ADDON_REPO_NOT_GIT',
      `repository '${name}' is the folder ${entry.path}, used in place: there is nothing to fetch`,
      { repository: name },
    );
  const before = await gitHead(entry.path);
  await gitFetch(entry.path, entry.url);
  const commit = await resolveReference(entry.path, entry.reference);
  await gitCheckout(entry.path, commit);
  try {
    loadRepository(name, entry.path);
  } catch (error) {
    if (before) await gitCheckout(entry.path, before);
    throw error;
  }
  return listing(entry, commit, before);
}

export async function removeRepository(paths: Paths, name: string): Promise<void> {
  let removed: RepositoryRecord | undefined;
  await editRecords(paths, (records) => {
    removed = records.find((r) => r.name === name);
    if (!removed)
      throw new MicroK8sError('MK_ADDON_UNKNOWN', `no added repository '${name}'`, { repository: name });
    return records.filter((r) => r.name !== name);
  });
  // Only our own clones are deleted; a folder used in place belongs to the user.
  if (removed?.url !== undefined && removed.path === cloneDir(paths, name))
    rmSync(removed.path, { recursive: true, force: true });
}

export interface RepositoryListing {
  readonly name: string;
  /** The folder, or the git URL. */
  readonly source: string;
  readonly path: string;
  readonly reference?: string;
  /** The commit checked out (a git repository, or a folder that is a git work tree). */
  readonly commit?: string;
  /** After an update: the commit before it. */
  readonly previous?: string;
}

function listing(entry: RepositoryRecord, commit: string | undefined, previous?: string): RepositoryListing {
  return {
    name: entry.name,
    source: entry.url ?? entry.path,
    path: entry.path,
    ...(entry.reference === undefined ? {} : { reference: entry.reference }),
    ...(commit === undefined ? {} : { commit }),
    ...(previous === undefined ? {} : { previous }),
  };
}

/** What `repo list` shows of each added repository. */
export async function listRepositories(paths: Paths): Promise<RepositoryListing[]> {
  const out: RepositoryListing[] = [];
  for (const entry of readRepositoryRecords(paths)) {
    const commit = existsSync(join(entry.path, '.git')) ? await gitHead(entry.path) : undefined;
    out.push(listing(entry, commit));
  }
  return out;
}

/** The repositories this node knows, in lookup order: core, then those added here. */
export function repositories(paths?: Paths): Repository[] {
  const added = paths ? readRepositoryRecords(paths).map((r) => loadRepository(r.name, r.path)) : [];
  return [coreRepository(), ...added];
}
