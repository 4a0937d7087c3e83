/**
 * snap/snapcraft.yaml as data: read, parsed (YAML anchors resolved) and validated against the
 * snapcraft schema in ../shared/schemas/snapcraft.json (JSON Schema 2020-12 from pydantic, with
 * a non-standard `discriminator` keyword: checked as upstream's CI does, strict mode off).
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { upstreamCacheDir } from '../../../src/lib/upstream-paths.js';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const SNAPCRAFT_YAML = join(PROJECT_ROOT, 'snap', 'snapcraft.yaml');
export const SNAPCRAFT_SCHEMA = join(PROJECT_ROOT, '..', 'shared', 'schemas', 'snapcraft.json');

/** Where `npm run snap` keeps its prime tree and .snap: beside the upstream build cache. */
export function snapCacheDir(): string {
  return join(dirname(upstreamCacheDir()), 'microk8s-snap');
}

export interface SnapcraftApp {
  readonly command: string;
  readonly daemon?: string;
  readonly 'install-mode'?: string;
  readonly after?: readonly string[];
  readonly 'restart-condition'?: string;
  readonly 'stop-mode'?: string;
  readonly plugs?: readonly string[];
  readonly [key: string]: unknown;
}

export interface Snapcraft {
  readonly name: string;
  readonly version: string;
  readonly summary: string;
  readonly description: string;
  readonly base: string;
  readonly grade: string;
  readonly confinement: string;
  readonly platforms?: Readonly<Record<string, unknown>>;
  readonly apps: Readonly<Record<string, SnapcraftApp>>;
  readonly hooks?: Readonly<Record<string, { plugs?: readonly string[] }>>;
  readonly parts: Readonly<Record<string, Record<string, unknown>>>;
  readonly layout?: Readonly<Record<string, Record<string, string>>>;
  readonly [key: string]: unknown;
}

export function readSnapcraft(file: string = SNAPCRAFT_YAML): Snapcraft {
  // maxAliasCount: the plug lists are shared through anchors (one alias per app).
  return parse(readFileSync(file, 'utf8'), { maxAliasCount: 1000 }) as Snapcraft;
}

/** The schema's complaints about a parsed snapcraft.yaml; empty when it is valid. */
export function snapcraftSchemaErrors(project: unknown, schemaFile: string = SNAPCRAFT_SCHEMA): string[] {
  const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as object;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validate = ajv.compile(schema);
  if (validate(project)) return [];
  return (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}
