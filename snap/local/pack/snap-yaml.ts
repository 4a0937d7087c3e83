/**
 * meta/snap.yaml from snapcraft.yaml, as snapcraft writes it: the snap's metadata, its apps and
 * hooks with what snapd reads of them, the plugs, layouts and system user names. The build
 * keys (parts, platforms, compression) stay behind; platforms become the one architecture this
 * tree was assembled for, and PATH gets the snap's own folders first, as snapcraft adds.
 */
import { stringify } from 'yaml';
import type { Snapcraft } from './project.js';

/** snapd's architecture names for Node's. */
export function snapArchitecture(nodeArch: string = process.arch): string {
  const names: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'armhf',
    s390x: 's390x',
    ppc64: 'ppc64el',
  };
  const name = names[nodeArch];
  if (!name) throw new Error(`no snap architecture for Node's '${nodeArch}'`);
  return name;
}

/** The keys of a snapcraft.yaml that snap.yaml carries over as they are, in snapcraft's order. */
const CARRIED = [
  'name',
  'title',
  'version',
  'summary',
  'description',
  'license',
  'base',
  'assumes',
  'confinement',
  'grade',
  'epoch',
  'system-usernames',
] as const;

/** The app keys snapd knows (snapcraft drops build-only ones such as extensions). */
const APP_KEYS = [
  'command',
  'command-chain',
  'daemon',
  'daemon-scope',
  'install-mode',
  'after',
  'before',
  'restart-condition',
  'restart-delay',
  'stop-mode',
  'stop-timeout',
  'start-timeout',
  'stop-command',
  'post-stop-command',
  'refresh-mode',
  'plugs',
  'slots',
  'environment',
] as const;

export function snapYamlObject(project: Snapcraft, architecture: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of CARRIED) if (project[key] !== undefined && project[key] !== null) out[key] = project[key];
  out.architectures = [architecture];
  const apps: Record<string, Record<string, unknown>> = {};
  for (const [name, app] of Object.entries(project.apps)) {
    const kept: Record<string, unknown> = {};
    for (const key of APP_KEYS) if (app[key] !== undefined && app[key] !== null) kept[key] = app[key];
    apps[name] = kept;
  }
  out.apps = apps;
  if (project.hooks) out.hooks = project.hooks;
  if (project.plugs) out.plugs = project.plugs;
  if (project.layout) out.layout = project.layout;
  out.environment = {
    ...((project.environment as Record<string, string> | undefined) ?? {}),
    PATH: '$SNAP/usr/sbin:$SNAP/usr/bin:$SNAP/sbin:$SNAP/bin:$PATH',
  };
  return out;
}

/** The file's text: plain YAML without anchors (snapd's parser is strict about duplicates). */
export function snapYamlText(project: Snapcraft, architecture: string): string {
  return stringify(snapYamlObject(project, architecture), { aliasDuplicateObjects: false, lineWidth: 0 });
}
