/**
 * Custom resources are checked against the CustomResourceDefinitions the addon ships: the
 * openAPIV3Schema of each served version becomes a schema for the checker (schema.ts). Checked
 * strictly, as the Kubernetes schemas are: a field the CRD does not declare is refused (the API
 * server would silently prune it), unless the CRD says x-kubernetes-preserve-unknown-fields.
 */
import type { KubeObject } from '../kube/object.js';
import type { JsonSchema } from './schema.js';

/** apiVersion + kind, as a table key. */
export function customKey(apiVersion: string, kind: string): string {
  return `${apiVersion}|${kind}`;
}

type OpenApi = Record<string, unknown>;

const KEPT = ['type', 'required', 'enum', 'pattern', 'minimum', 'maximum', 'minLength', 'maxLength'] as const;
const KEPT_ARRAY = ['minItems', 'maxItems'] as const;

/** One openAPIV3Schema node as the checker's schema. */
function toSchema(node: OpenApi): JsonSchema {
  const out: Record<string, unknown> = {};
  for (const key of [...KEPT, ...KEPT_ARRAY]) if (node[key] !== undefined) out[key] = node[key];
  if (node['x-kubernetes-int-or-string'] === true) out.type = ['integer', 'string'];
  if (node.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  for (const key of ['anyOf', 'oneOf'] as const) {
    if (Array.isArray(node[key])) out[key] = (node[key] as OpenApi[]).map(toSchema);
  }
  if (node.items !== undefined) out.items = toSchema(node.items as OpenApi);
  if (node.properties !== undefined) {
    out.properties = Object.fromEntries(
      Object.entries(node.properties as Record<string, OpenApi>).map(([k, v]) => [k, toSchema(v)]),
    );
  }
  if (typeof node.additionalProperties === 'object' && node.additionalProperties !== null) {
    out.additionalProperties = toSchema(node.additionalProperties as OpenApi);
  } else if (node.additionalProperties === undefined && node.type === 'object') {
    // Structural schemas prune unknown fields; refusing them tells the author instead.
    if (node['x-kubernetes-preserve-unknown-fields'] !== true) out.additionalProperties = false;
  }
  return out as JsonSchema;
}

/**
 * The fields every custom resource has, whether or not its schema lists them; metadata is the
 * API server's ObjectMeta whatever the CRD says (a CRD may only say `type: object` there).
 */
function withObjectFields(schema: JsonSchema): JsonSchema {
  return {
    ...schema,
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      ...schema.properties,
      metadata: { type: 'object' },
    },
  };
}

interface CrdShape {
  spec?: {
    group?: string;
    names?: { kind?: string };
    versions?: { name?: string; served?: boolean; schema?: { openAPIV3Schema?: OpenApi } }[];
  };
}

/** The schemas of the custom kinds the objects' CRDs define (served versions with a schema). */
export function crdSchemas(objects: readonly KubeObject[]): Map<string, JsonSchema> {
  const table = new Map<string, JsonSchema>();
  for (const object of objects) {
    if (object.kind !== 'CustomResourceDefinition' || object.apiVersion !== 'apiextensions.k8s.io/v1')
      continue;
    const spec = (object as unknown as CrdShape).spec;
    const kind = spec?.names?.kind;
    if (!spec?.group || !kind) continue;
    for (const version of spec.versions ?? []) {
      const schema = version.schema?.openAPIV3Schema;
      if (!version.name || version.served === false || !schema) continue;
      table.set(customKey(`${spec.group}/${version.name}`, kind), withObjectFields(toSchema(schema)));
    }
  }
  return table;
}
