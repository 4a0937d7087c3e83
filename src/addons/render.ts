/**
 * Manifest templates: `{{ name }}` placeholders filled from the addon's variables (an unknown
 * name is an error, never an empty string), the YAML documents parsed, each object checked
 * against the Kubernetes schemas, and container images mapped through the images table, so a
 * manifest names the upstream image and the node runs the local build that stands in for it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { MicroK8sError } from '../lib/errors.js';
import { LOCAL_IMAGE_TABLE } from '../services/images/names.js';
import type { ImageTable } from './image-table.js';
import type { KubeObject } from './kube/object.js';
import type { AddonSpec } from './spec.js';
import { crdSchemas } from './validate/crd.js';
import { validateObject } from './validate/manifests.js';

export type TemplateVars = Readonly<Record<string, string>>;

function manifestError(source: string, message: string): MicroK8sError {
  return new MicroK8sError('MK_ADDON_MANIFEST_INVALID', `${source}: ${message}`, { source });
}

export function fillTemplate(text: string, vars: TemplateVars, source: string): string {
  return text.replace(/\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}/g, (_, name: string) => {
    const value = vars[name];
    if (value === undefined)
      throw manifestError(source, `the template uses {{ ${name} }}, which has no value`);
    return value;
  });
}

/** The objects of a multi-document YAML text (empty documents skipped). */
export function parseObjects(text: string, source: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if ('errors' in doc && doc.errors.length > 0) throw manifestError(source, doc.errors[0]!.message);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value))
      throw manifestError(source, 'a document is not an object');
    out.push(value as KubeObject);
  }
  return out;
}

type Container = { image?: string };
type PodSpec = { containers?: Container[]; initContainers?: Container[] };

function podSpecOf(object: KubeObject): PodSpec | undefined {
  const spec = object.spec as { template?: { spec?: PodSpec } } & PodSpec;
  if (object.kind === 'Pod') return spec;
  return spec?.template?.spec;
}

/** Images replaced through the table; returns the images the objects use afterwards. */
export function mapImages(objects: readonly KubeObject[], table: ImageTable): string[] {
  const used = new Set<string>();
  for (const object of objects) {
    const pod = podSpecOf(object);
    for (const c of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) {
      if (c.image === undefined) continue;
      c.image = table[c.image] ?? c.image;
      used.add(c.image);
    }
  }
  return [...used];
}

export interface RenderedAddon {
  readonly objects: KubeObject[];
  /** The images the node must have (after the table). */
  readonly images: string[];
}

/**
 * Every manifest of the addon rendered and validated; throws before anything is applied. The
 * table is the node's (built-in mappings with the user's overrides, image-table.ts).
 */
export function renderAddon(
  spec: AddonSpec,
  vars: TemplateVars,
  table: ImageTable = LOCAL_IMAGE_TABLE,
): RenderedAddon {
  const parsed: { object: KubeObject; source: string }[] = [];
  for (const file of spec.manifests) {
    const source = `${spec.repository}/${spec.name}/${file}`;
    const text = fillTemplate(readFileSync(join(spec.dir, file), 'utf8'), vars, source);
    for (const object of parseObjects(text, source)) parsed.push({ object, source });
  }
  const objects = parsed.map((p) => p.object);
  // The CRDs first (against the Kubernetes schemas), then every object, custom ones against them.
  for (const { object, source } of parsed)
    if (object.kind === 'CustomResourceDefinition') validateObject(object, source);
  const custom = crdSchemas(objects);
  for (const { object, source } of parsed) validateObject(object, source, undefined, custom);
  return { objects, images: mapImages(objects, table) };
}
