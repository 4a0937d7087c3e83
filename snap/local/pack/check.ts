/**
 * What snapd needs of a snap, checked on a prime tree (assembled or unpacked from a .snap):
 * meta/snap.yaml's fields by snapd's rules (name, version, apps and hooks), every app's command
 * and every hook present and executable, and every ELF binary built for the snap's
 * architecture. Returns the problems, one line each; empty when the tree is a valid snap.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { elfArchitecture } from './elf.js';
import { PRIME } from './layout.js';

// snapd's own rules (snap/validate.go and naming/): names, versions, apps, hooks.
const SNAP_NAME = /^(?=.*[a-z])[a-z0-9](?:-?[a-z0-9])*$/;
const VERSION = /^[a-zA-Z0-9](?:[a-zA-Z0-9:.+~-]{0,30}[a-zA-Z0-9+~])?$/;
const APP_NAME = /^[a-zA-Z0-9](?:-?[a-zA-Z0-9])*$/;
const HOOK_NAME = /^[a-z](?:-?[a-z0-9])*$/;
const DAEMONS = ['simple', 'forking', 'oneshot', 'notify', 'dbus'];
const STOP_MODES = [
  'sigterm',
  'sigterm-all',
  'sighup',
  'sighup-all',
  'sigusr1',
  'sigusr1-all',
  'sigusr2',
  'sigusr2-all',
  'sigint',
  'sigint-all',
];
const RESTART = ['on-success', 'on-failure', 'on-abnormal', 'on-abort', 'on-watchdog', 'always', 'never'];

type Yaml = Record<string, unknown>;

function executable(file: string): boolean {
  try {
    const st = statSync(file);
    return st.isFile() && (st.mode & 0o111) === 0o111;
  } catch {
    return false;
  }
}

function checkApps(prime: string, snap: Yaml, problems: string[]): void {
  const apps = (snap.apps ?? {}) as Record<string, Yaml>;
  if (Object.keys(apps).length === 0) problems.push('snap.yaml has no apps');
  for (const [name, app] of Object.entries(apps)) {
    if (!APP_NAME.test(name)) problems.push(`app ${name}: not a valid app name`);
    const command = typeof app.command === 'string' ? app.command.split(' ')[0]! : '';
    if (!command) problems.push(`app ${name}: no command`);
    else if (!executable(join(prime, command)))
      problems.push(`app ${name}: ${command} is not an executable file`);
    if (app.daemon === undefined) continue;
    if (!DAEMONS.includes(app.daemon as string))
      problems.push(`app ${name}: unknown daemon type ${app.daemon}`);
    if (app['stop-mode'] !== undefined && !STOP_MODES.includes(app['stop-mode'] as string))
      problems.push(`app ${name}: unknown stop-mode ${app['stop-mode']}`);
    if (app['restart-condition'] !== undefined && !RESTART.includes(app['restart-condition'] as string))
      problems.push(`app ${name}: unknown restart-condition ${app['restart-condition']}`);
    if (!['enable', 'disable', undefined].includes(app['install-mode'] as string | undefined))
      problems.push(`app ${name}: install-mode ${app['install-mode']}`);
    for (const other of (app.after ?? []) as string[]) {
      if (apps[other]?.daemon === undefined)
        problems.push(`app ${name}: after names ${other}, which is not a daemon`);
    }
  }
}

function checkHooks(prime: string, snap: Yaml, problems: string[]): void {
  const declared = Object.keys((snap.hooks ?? {}) as Yaml);
  const dir = join(prime, PRIME.hooks);
  const present = existsSync(dir) ? readdirSync(dir) : [];
  for (const hook of new Set([...declared, ...present])) {
    if (!HOOK_NAME.test(hook)) problems.push(`hook ${hook}: not a valid hook name`);
    if (!executable(join(dir, hook)))
      problems.push(`hook ${hook}: meta/hooks/${hook} is not an executable file`);
  }
}

/** Every regular file in the tree, relative; symlinks are not followed. */
export function treeFiles(root: string, dir = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir)).sort()) {
    const rel = join(dir, name);
    const st = lstatSync(join(root, rel));
    if (st.isDirectory()) out.push(...treeFiles(root, rel));
    else if (st.isFile()) out.push(rel);
  }
  return out;
}

function checkBinaries(prime: string, architecture: string, problems: string[]): number {
  let binaries = 0;
  for (const file of treeFiles(prime)) {
    const arch = elfArchitecture(join(prime, file));
    if (arch === undefined) continue;
    binaries++;
    if (arch !== architecture) problems.push(`${file} is built for ${arch}, the snap for ${architecture}`);
  }
  return binaries;
}

export interface PrimeCheck {
  readonly problems: string[];
  readonly snapYaml: Yaml;
  /** How many ELF files the tree holds (all of the snap's architecture when no problem says otherwise). */
  readonly elfFiles: number;
}

export function checkPrimeTree(prime: string): PrimeCheck {
  const problems: string[] = [];
  const file = join(prime, PRIME.snapYaml);
  if (!existsSync(file)) return { problems: ['meta/snap.yaml is missing'], snapYaml: {}, elfFiles: 0 };
  const snap = parse(readFileSync(file, 'utf8')) as Yaml;
  const text = (key: string) => (typeof snap[key] === 'string' ? (snap[key] as string) : '');
  if (!SNAP_NAME.test(text('name')) || text('name').length > 40)
    problems.push(`name '${text('name')}' is not a snap name`);
  if (!VERSION.test(text('version'))) problems.push(`version '${text('version')}' is not a snap version`);
  if (text('summary').length === 0 || text('summary').length > 128)
    problems.push('summary is empty or over 128 characters');
  if (!['strict', 'classic', 'devmode'].includes(text('confinement')))
    problems.push(`confinement '${text('confinement')}'`);
  if (!['stable', 'devel'].includes(text('grade'))) problems.push(`grade '${text('grade')}'`);
  if (!text('base')) problems.push('no base');
  const architectures = (snap.architectures ?? []) as string[];
  if (architectures.length !== 1)
    problems.push(`architectures ${JSON.stringify(architectures)}: one expected`);
  checkApps(prime, snap, problems);
  checkHooks(prime, snap, problems);
  const elfFiles = checkBinaries(prime, architectures[0] ?? '', problems);
  return { problems, snapYaml: snap, elfFiles };
}
