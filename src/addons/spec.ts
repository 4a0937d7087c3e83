/**
 * A repository's index (addons.yaml): what each addon is, what it needs and how its state is
 * read (an object's presence, or a service's arg on every control-plane node). Parsed strictly:
 * an unknown key or a wrong type is MK_ADDON_REPOSITORY naming the file and the field, so a typo
 * never silently drops a dependency.
 */
import { MicroK8sError } from '../lib/errors.js';
import { SERVICE_NAMES, type ServiceName } from '../services/catalog.js';

/**
 * ip-ranges: FIRST-LAST or CIDR items, comma-separated, not overlapping (src/lib/ip-range.ts);
 * quantity: a Kubernetes quantity such as 20Gi.
 */
export const ARGUMENT_TYPES = ['ip', 'ip-list', 'string', 'path', 'ip-ranges', 'quantity'] as const;
export type ArgumentType = (typeof ARGUMENT_TYPES)[number];

export interface ArgumentSpec {
  readonly name: string;
  readonly type: ArgumentType;
  readonly description: string;
  /** `enable NAME:VALUE` fills this argument (at most one per addon). */
  readonly positional: boolean;
  /** An enable without it is refused (MK_ADDON_ARGS): there is no safe default. */
  readonly required: boolean;
}

/** The object whose presence says the addon is enabled (as MicroK8s checks a Deployment). */
export interface ObjectStatusCheck {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

/**
 * An addon that is a setting, not objects (rbac): enabled when every control-plane node's
 * args file of `service` gives `arg` a comma-separated value that includes `includes`.
 */
export interface ServiceArgStatusCheck {
  readonly service: ServiceName;
  readonly arg: string;
  readonly includes: string;
}

export type StatusCheck = ObjectStatusCheck | ServiceArgStatusCheck;

export function isServiceArgStatus(check: StatusCheck): check is ServiceArgStatusCheck {
  return 'service' in check;
}

export interface AddonSpec {
  readonly repository: string;
  readonly name: string;
  readonly description: string;
  readonly version: string;
  readonly architectures: readonly string[];
  readonly aliases: readonly string[];
  readonly dependencies: readonly string[];
  readonly conflicts: readonly string[];
  readonly arguments: readonly ArgumentSpec[];
  /** Manifest templates in the addon's folder, applied in this order. */
  readonly manifests: readonly string[];
  /** The upstream images the manifests name (the images table maps them to local builds). */
  readonly images: readonly string[];
  /**
   * Its images cannot be built here (no Go module of ours stands in for them): a node needs them
   * from a registry, a mirror or an import. Shown in `status`; enable checks them first.
   */
  readonly needsRegistry: boolean;
  /** The plugin module in the addon's folder, loaded when the addon is enabled or disabled. */
  readonly plugin?: string;
  readonly status: StatusCheck;
  /** The addon's folder. */
  readonly dir: string;
}

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const FILE_RE = /^[A-Za-z0-9._-]+$/;

type Obj = Record<string, unknown>;

function bad(file: string, field: string, why: string): MicroK8sError {
  return new MicroK8sError('MK_ADDON_REPOSITORY', `${file}: ${field} ${why}`, { file, field });
}

function checkKeys(file: string, where: string, value: Obj, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw bad(file, `${where}.${key}`, 'is not a known field');
  }
}

function obj(file: string, field: string, value: unknown): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad(file, field, 'must be a mapping');
  return value as Obj;
}

function str(file: string, field: string, value: unknown, re?: RegExp): string {
  if (typeof value !== 'string' || value === '' || (re && !re.test(value)))
    throw bad(file, field, `must be a${re ? ' valid' : ' non-empty'} string, got ${JSON.stringify(value)}`);
  return value;
}

function strings(file: string, field: string, value: unknown, re?: RegExp): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw bad(file, field, 'must be a list');
  return value.map((v, i) => str(file, `${field}[${i}]`, v, re));
}

function parseArgument(file: string, field: string, value: unknown): ArgumentSpec {
  const a = obj(file, field, value);
  checkKeys(file, field, a, ['name', 'type', 'description', 'positional', 'required']);
  const type = str(file, `${field}.type`, a.type);
  if (!(ARGUMENT_TYPES as readonly string[]).includes(type))
    throw bad(file, `${field}.type`, `must be one of ${ARGUMENT_TYPES.join(', ')}`);
  if (a.positional !== undefined && typeof a.positional !== 'boolean')
    throw bad(file, `${field}.positional`, 'must be true or false');
  if (a.required !== undefined && typeof a.required !== 'boolean')
    throw bad(file, `${field}.required`, 'must be true or false');
  return {
    name: str(file, `${field}.name`, a.name, NAME_RE),
    type: type as ArgumentType,
    description: str(file, `${field}.description`, a.description),
    positional: a.positional === true,
    required: a.required === true,
  };
}

function parseStatus(file: string, field: string, value: unknown): StatusCheck {
  const s = obj(file, field, value);
  if (s.service !== undefined) {
    checkKeys(file, field, s, ['service', 'arg', 'includes']);
    const service = str(file, `${field}.service`, s.service);
    if (!(SERVICE_NAMES as readonly string[]).includes(service))
      throw bad(file, `${field}.service`, `must be one of ${SERVICE_NAMES.join(', ')}`);
    return {
      service: service as ServiceName,
      arg: str(file, `${field}.arg`, s.arg, NAME_RE),
      includes: str(file, `${field}.includes`, s.includes),
    };
  }
  checkKeys(file, field, s, ['apiVersion', 'kind', 'namespace', 'name']);
  return {
    apiVersion: str(file, `${field}.apiVersion`, s.apiVersion),
    kind: str(file, `${field}.kind`, s.kind),
    ...(s.namespace === undefined
      ? {}
      : { namespace: str(file, `${field}.namespace`, s.namespace, NAME_RE) }),
    name: str(file, `${field}.name`, s.name),
  };
}

/** One entry of the index; `dirOf` gives the addon's folder. */
export function parseAddonEntry(
  file: string,
  repository: string,
  index: number,
  value: unknown,
  dirOf: (name: string) => string,
): AddonSpec {
  const field = `addons[${index}]`;
  const a = obj(file, field, value);
  checkKeys(file, field, a, [
    'name',
    'description',
    'version',
    'architectures',
    'aliases',
    'dependencies',
    'conflicts',
    'arguments',
    'manifests',
    'images',
    'needsRegistry',
    'plugin',
    'status',
  ]);
  const name = str(file, `${field}.name`, a.name, NAME_RE);
  const args = a.arguments === undefined ? [] : a.arguments;
  if (!Array.isArray(args)) throw bad(file, `${field}.arguments`, 'must be a list');
  const parsedArgs = args.map((v, i) => parseArgument(file, `${field}.arguments[${i}]`, v));
  if (parsedArgs.filter((x) => x.positional).length > 1)
    throw bad(file, `${field}.arguments`, 'may have at most one positional argument');
  if (a.needsRegistry !== undefined && typeof a.needsRegistry !== 'boolean')
    throw bad(file, `${field}.needsRegistry`, 'must be true or false');
  const architectures = strings(file, `${field}.architectures`, a.architectures);
  if (architectures.length === 0) throw bad(file, `${field}.architectures`, 'must name at least one');
  return {
    repository,
    name,
    description: str(file, `${field}.description`, a.description),
    version: str(file, `${field}.version`, a.version),
    architectures,
    aliases: strings(file, `${field}.aliases`, a.aliases, NAME_RE),
    dependencies: strings(file, `${field}.dependencies`, a.dependencies),
    conflicts: strings(file, `${field}.conflicts`, a.conflicts),
    arguments: parsedArgs,
    manifests: strings(file, `${field}.manifests`, a.manifests, FILE_RE),
    images: strings(file, `${field}.images`, a.images),
    needsRegistry: a.needsRegistry === true,
    ...(a.plugin === undefined ? {} : { plugin: str(file, `${field}.plugin`, a.plugin, FILE_RE) }),
    status: parseStatus(file, `${field}.status`, a.status),
    dir: dirOf(name),
  };
}

/** The index's top level: {addons: [...]}. */
export function indexEntries(file: string, doc: unknown): unknown[] {
  const top = obj(file, '(top level)', doc);
  checkKeys(file, '(top level)', top, ['addons']);
  if (!Array.isArray(top.addons)) throw bad(file, 'addons', 'must be a list');
  return top.addons;
}
