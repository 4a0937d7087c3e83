/**
 * The launch configuration the install hook applies, in MicroK8s's format (version 0.1.0):
 * /etc/microk8s.yaml, else $SNAP_COMMON/.microk8s.yaml (a file put there before `snap install`).
 * MICROK8S_LAUNCH_CONFIG names another file to read instead of /etc/microk8s.yaml (for tests;
 * snapd does not pass it to a hook). It holds:
 *   version: "0.1.0"
 *   address, hostname            the node's, for a new single-node cluster
 *   addons: [{name, args?, disable?}]   enabled (or disabled) once the node is up
 *   extraKubeletArgs ... :       {"--flag": value | null} per service (null removes the flag)
 *   join: {url, worker?}         join that cluster instead of starting a new one
 *   externalEtcd: {endpoints, caFile, certFile, keyFile}
 * The whole file is checked before anything is applied: an unknown key, a wrong type or a bad
 * value is MK_INVALID_CONFIG naming the field (details.field), and nothing changes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { parseJoinString } from '../cluster/join/join-string.js';
import type { SetupOptions } from '../cluster/kubernetes/setup.js';
import { isMicroK8sError, MicroK8sError } from '../lib/errors.js';
import type { Environment, Paths } from '../lib/paths.js';
import { checkArgsEdit } from '../node/args-file.js';
import type { ServiceName } from '../services/catalog.js';

/** The launch configuration versions this version reads (MicroK8s's). */
export const LAUNCH_CONFIG_VERSIONS = ['0.1.0'];

/** extra<Service>Args keys, MicroK8s's names where MicroK8s has the service. */
export const EXTRA_ARGS_KEYS: Readonly<Record<string, ServiceName>> = {
  extraKubeletArgs: 'kubelet',
  extraKubeAPIServerArgs: 'kube-apiserver',
  extraKubeControllerManagerArgs: 'kube-controller-manager',
  extraKubeSchedulerArgs: 'kube-scheduler',
  extraKubeProxyArgs: 'kube-proxy',
  extraContainerdArgs: 'containerd',
  extraFlanneldArgs: 'flanneld',
  extraDatastoreArgs: 'datastore',
};

const TOP_KEYS = [
  'version',
  'address',
  'hostname',
  'addons',
  'join',
  'externalEtcd',
  ...Object.keys(EXTRA_ARGS_KEYS),
];
const FLAG = /^--[a-z][a-z0-9-]{0,62}$/;

export interface LaunchAddon {
  readonly name: string;
  readonly args: string[];
  readonly disable: boolean;
}

export interface LaunchArgs {
  readonly service: ServiceName;
  /** flag (without --) -> value ('' for a bare flag) */
  readonly set: Record<string, string>;
  /** flags (without --) to take out */
  readonly remove: string[];
}

export interface LaunchConfig {
  readonly file: string;
  readonly setup: SetupOptions;
  readonly addons: LaunchAddon[];
  readonly args: LaunchArgs[];
  readonly join?: { readonly url: string; readonly worker: boolean };
}

export function launchConfigFiles(paths: Paths, env: Environment = process.env): string[] {
  return [env.MICROK8S_LAUNCH_CONFIG || '/etc/microk8s.yaml', join(paths.common, '.microk8s.yaml')];
}

type Doc = Record<string, unknown>;

class Checker {
  constructor(readonly file: string) {}

  fail(field: string, why: string): never {
    throw new MicroK8sError('MK_INVALID_CONFIG', `launch configuration ${this.file}: ${field}: ${why}`, {
      file: this.file,
      field,
    });
  }

  mapping(value: unknown, field: string, keys?: readonly string[]): Doc {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      this.fail(field, 'must be a mapping');
    const doc = value as Doc;
    const unknown = keys ? Object.keys(doc).filter((k) => !keys.includes(k)) : [];
    if (unknown.length > 0) {
      const at = field === '(top)' ? '' : `${field}.`;
      this.fail(`${at}${unknown[0]}`, `unknown key (known here: ${keys!.join(', ')})`);
    }
    return doc;
  }

  text(value: unknown, field: string): string {
    if (typeof value !== 'string' || value.trim() === '') this.fail(field, 'must be a non-empty string');
    return value as string;
  }

  list(value: unknown, field: string): unknown[] {
    if (!Array.isArray(value)) this.fail(field, 'must be a list');
    return value as unknown[];
  }

  flag(value: unknown, field: string): boolean {
    if (typeof value !== 'boolean') this.fail(field, 'must be true or false');
    return value as boolean;
  }
}

function addons(c: Checker, value: unknown): LaunchAddon[] {
  return c.list(value, 'addons').map((entry, i) => {
    const field = `addons[${i}]`;
    const doc = c.mapping(entry, field, ['name', 'args', 'disable']);
    const args = doc.args === undefined ? [] : c.list(doc.args, `${field}.args`);
    return {
      name: c.text(doc.name, `${field}.name`),
      args: args.map((a, j) => c.text(a, `${field}.args[${j}]`)),
      disable: doc.disable === undefined ? false : c.flag(doc.disable, `${field}.disable`),
    };
  });
}

function extraArgs(c: Checker, key: string, service: ServiceName, value: unknown): LaunchArgs {
  const out: LaunchArgs = { service, set: {}, remove: [] };
  for (const [flag, raw] of Object.entries(c.mapping(value, key))) {
    const field = `${key}.${flag}`;
    if (!FLAG.test(flag)) c.fail(field, 'not a flag name like --max-pods');
    if (raw === null) out.remove.push(flag.slice(2));
    else if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean')
      out.set[flag.slice(2)] = raw === true ? '' : String(raw);
    else c.fail(field, 'must be a string, a number, true/false or null (null removes the flag)');
  }
  try {
    checkArgsEdit(out); // the args file's own rules (one-line values, length), before any write
  } catch (error) {
    const flag = isMicroK8sError(error) ? error.info.flag : undefined;
    c.fail(`${key}.--${String(flag)}`, (error as Error).message);
  }
  return out;
}

function externalEtcd(c: Checker, value: unknown): NonNullable<SetupOptions['externalEtcd']> {
  const doc = c.mapping(value, 'externalEtcd', ['endpoints', 'caFile', 'certFile', 'keyFile']);
  const endpoints = c.list(doc.endpoints, 'externalEtcd.endpoints').map((e, i) => {
    const field = `externalEtcd.endpoints[${i}]`;
    const text = c.text(e, field);
    const url = URL.canParse(text) ? new URL(text) : undefined;
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.port === '')
      c.fail(field, `'${text}' is not a URL like https://HOST:2379`);
    return text;
  });
  if (endpoints.length === 0) c.fail('externalEtcd.endpoints', 'must name at least one endpoint');
  const file = (key: 'caFile' | 'certFile' | 'keyFile') => {
    const path = c.text(doc[key], `externalEtcd.${key}`);
    if (!isAbsolute(path) || !existsSync(path))
      c.fail(`externalEtcd.${key}`, `'${path}' is not the absolute path of an existing file`);
    return path;
  };
  return {
    kind: 'external',
    endpoints,
    caFile: file('caFile'),
    certFile: file('certFile'),
    keyFile: file('keyFile'),
  };
}

function joinSection(c: Checker, value: unknown): { url: string; worker: boolean } {
  const doc = c.mapping(value, 'join', ['url', 'worker']);
  const url = c.text(doc.url, 'join.url');
  try {
    parseJoinString(url);
  } catch (error) {
    c.fail('join.url', (error as Error).message);
  }
  return { url, worker: doc.worker === undefined ? false : c.flag(doc.worker, 'join.worker') };
}

/** The whole document checked; throws MK_INVALID_CONFIG naming the first bad field. */
export function checkLaunchConfig(file: string, doc: unknown): LaunchConfig {
  const c = new Checker(file);
  const config = c.mapping(doc, '(top)', TOP_KEYS);
  if (config.version !== undefined && !LAUNCH_CONFIG_VERSIONS.includes(String(config.version)))
    c.fail(
      'version',
      `'${String(config.version)}' is not one this version reads (${LAUNCH_CONFIG_VERSIONS.join(', ')})`,
    );
  const setup: { address?: string; hostname?: string; externalEtcd?: SetupOptions['externalEtcd'] } = {};
  if (config.address !== undefined) setup.address = c.text(config.address, 'address');
  if (config.hostname !== undefined) setup.hostname = c.text(config.hostname, 'hostname');
  if (config.externalEtcd !== undefined) setup.externalEtcd = externalEtcd(c, config.externalEtcd);
  const args = Object.entries(EXTRA_ARGS_KEYS)
    .filter(([key]) => config[key] !== undefined)
    .map(([key, service]) => extraArgs(c, key, service, config[key]));
  const join = config.join === undefined ? undefined : joinSection(c, config.join);
  if (join && setup.externalEtcd)
    c.fail('join', "a node that joins a cluster uses that cluster's datastore, not externalEtcd");
  return {
    file,
    setup,
    addons: config.addons === undefined ? [] : addons(c, config.addons),
    args,
    ...(join ? { join } : {}),
  };
}

/** The first launch configuration file present, read and checked; undefined when there is none. */
export function readLaunchConfig(
  paths: Paths,
  files: readonly string[] = launchConfigFiles(paths),
): LaunchConfig | undefined {
  const file = files.find((f) => existsSync(f));
  if (file === undefined) return undefined;
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new MicroK8sError(
      'MK_INVALID_CONFIG',
      `launch configuration ${file}: not YAML (${(error as Error).message})`,
      {
        file,
        field: '(file)',
      },
    );
  }
  return checkLaunchConfig(file, doc);
}
