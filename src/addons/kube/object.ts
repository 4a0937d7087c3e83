/** A Kubernetes object as a manifest holds it, and how errors name it. */

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly [key: string]: unknown };
  readonly [key: string]: unknown;
}

/** Kind namespace/name, e.g. `Deployment kube-system/coredns`. */
export function describeObject(object: Partial<KubeObject>): string {
  const metadata = (object.metadata ?? {}) as { name?: unknown; namespace?: unknown };
  const name = typeof metadata.name === 'string' ? metadata.name : '(no name)';
  const ns = typeof metadata.namespace === 'string' ? `${metadata.namespace}/` : '';
  return `${object.kind ?? '(no kind)'} ${ns}${name}`;
}
