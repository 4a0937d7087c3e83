/**
 * Every Kubernetes object an addon would apply is checked against the Kubernetes 1.36 schemas
 * (../shared/schemas/kubernetes, kubeconform's standalone-strict layout) before anything is
 * applied. A kind with no schema is refused too: an object nobody checked must not reach the API.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MicroK8sError } from '../../lib/errors.js';
import { packageRoot } from '../../lib/paths.js';
import type { KubeObject } from '../kube/object.js';
import { describeObject } from '../kube/object.js';
import { customKey } from './crd.js';
import { firstViolation, type JsonSchema } from './schema.js';

const SCHEMA_SET = join('kubernetes', 'v1.36-standalone-strict');

/** The schema folder: MICROK8S_KUBE_SCHEMAS, else the shared schemas beside the package. */
export function schemaDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MICROK8S_KUBE_SCHEMAS) return resolve(env.MICROK8S_KUBE_SCHEMAS);
  return resolve(packageRoot(), '..', 'shared', 'schemas', SCHEMA_SET);
}

/** kubeconform's file name: <kind>-<first label of the group>-<version>.json (core: <kind>-<version>). */
export function schemaFileName(apiVersion: string, kind: string): string {
  const slash = apiVersion.indexOf('/');
  const k = kind.toLowerCase();
  if (slash === -1) return `${k}-${apiVersion}.json`;
  const group = apiVersion.slice(0, slash).split('.')[0]!;
  return `${k}-${group}-${apiVersion.slice(slash + 1)}.json`;
}

const cache = new Map<string, JsonSchema>();

function loadSchema(dir: string, file: string): JsonSchema | undefined {
  const path = join(dir, file);
  const cached = cache.get(path);
  if (cached) return cached;
  if (!existsSync(path)) return undefined;
  const schema = JSON.parse(readFileSync(path, 'utf8')) as JsonSchema;
  cache.set(path, schema);
  return schema;
}

/**
 * Throws MK_ADDON_MANIFEST_INVALID naming the source, the object and the field. `custom`: the
 * schemas of the custom kinds the addon's own CRDs define (crd.ts).
 */
export function validateObject(
  object: KubeObject,
  source: string,
  dir: string = schemaDir(),
  custom: ReadonlyMap<string, JsonSchema> = new Map(),
): void {
  const what = describeObject(object);
  const fail = (field: string, message: string) =>
    new MicroK8sError(
      'MK_ADDON_MANIFEST_INVALID',
      `${source}: ${what}: ${field ? `${field} ` : ''}${message}`,
      {
        source,
        object: what,
        field,
      },
    );
  if (typeof object.apiVersion !== 'string' || typeof object.kind !== 'string')
    throw fail('', 'has no apiVersion and kind');
  if (!existsSync(dir))
    throw new MicroK8sError(
      'MK_ADDON_MANIFEST_INVALID',
      `no Kubernetes schemas at ${dir}: nothing can be checked`,
      {
        dir,
      },
    );
  const schema =
    custom.get(customKey(object.apiVersion, object.kind)) ??
    loadSchema(dir, schemaFileName(object.apiVersion, object.kind));
  if (!schema)
    throw fail(
      '',
      `has no schema in ${dir} nor in the addon's CRDs (${object.apiVersion} ${object.kind} is not checked)`,
    );
  const violation = firstViolation(schema, object);
  if (violation) throw fail(violation.path, violation.message);
}
