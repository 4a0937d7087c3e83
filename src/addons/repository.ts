/**
 * Addon repositories: a folder with an addons.yaml index and one folder per addon. The core
 * repository ships in the package (src/addons/core, read at run time like the etcd protos);
 * a name resolves through the repositories in order, by name or alias, or as REPO/NAME.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { MicroK8sError } from '../lib/errors.js';
import { packageRoot } from '../lib/paths.js';
import { type AddonSpec, indexEntries, parseAddonEntry } from './spec.js';

export const INDEX_FILE = 'addons.yaml';

export interface Repository {
  readonly name: string;
  readonly dir: string;
  readonly addons: readonly AddonSpec[];
}

export function coreRepositoryDir(): string {
  return join(packageRoot(), 'src', 'addons', 'core');
}

/** Reads and checks a repository's index; every addon folder it names must exist. */
export function loadRepository(name: string, dir: string): Repository {
  const file = join(dir, INDEX_FILE);
  if (!existsSync(file)) {
    throw new MicroK8sError('MK_ADDON_REPOSITORY', `repository '${name}' at ${dir} has no ${INDEX_FILE}`, {
      repository: name,
      file,
    });
  }
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const doc = Array.isArray(docs) ? docs[0] : docs;
  if (!doc || doc.errors.length > 0 || (Array.isArray(docs) && docs.length !== 1)) {
    const why = doc?.errors[0]?.message ?? 'it must hold exactly one YAML document';
    throw new MicroK8sError('MK_ADDON_REPOSITORY', `${file}: ${why}`, { file });
  }
  const entries = indexEntries(file, doc.toJS());
  const addons = entries.map((entry, i) => parseAddonEntry(file, name, i, entry, (n) => join(dir, n)));
  const seen = new Set<string>();
  for (const addon of addons) {
    for (const label of [addon.name, ...addon.aliases]) {
      if (seen.has(label))
        throw new MicroK8sError('MK_ADDON_REPOSITORY', `${file}: the name '${label}' is used twice`, {
          file,
        });
      seen.add(label);
    }
    if (!existsSync(addon.dir) || !statSync(addon.dir).isDirectory())
      throw new MicroK8sError(
        'MK_ADDON_REPOSITORY',
        `${file}: addon '${addon.name}' has no folder ${addon.dir}`,
        {
          file,
        },
      );
    for (const manifest of addon.manifests) {
      if (!existsSync(join(addon.dir, manifest)))
        throw new MicroK8sError('MK_ADDON_REPOSITORY', `${file}: ${addon.name}/${manifest} does not exist`, {
          file,
        });
    }
  }
  return { name, dir, addons };
}

/** The built-in repository. */
export function coreRepository(): Repository {
  return loadRepository('core', coreRepositoryDir());
}

/** An addon by NAME, alias or REPO/NAME; MK_ADDON_UNKNOWN lists what exists. */
export function findAddon(repos: readonly Repository[], requested: string): AddonSpec {
  const slash = requested.indexOf('/');
  const repoName = slash === -1 ? undefined : requested.slice(0, slash);
  const name = slash === -1 ? requested : requested.slice(slash + 1);
  for (const repo of repos) {
    if (repoName !== undefined && repo.name !== repoName) continue;
    const found = repo.addons.find((a) => a.name === name || a.aliases.includes(name));
    if (found) return found;
  }
  const known = repos.flatMap((r) => r.addons.map((a) => a.name)).sort();
  throw new MicroK8sError(
    'MK_ADDON_UNKNOWN',
    `no addon '${requested}'${repoName !== undefined && !repos.some((r) => r.name === repoName) ? ` (no repository '${repoName}')` : ''}; known: ${known.join(', ')}`,
    { addon: requested },
  );
}
