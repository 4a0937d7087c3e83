/**
 * A JSON-schema checker for the subset the Kubernetes standalone-strict schemas use: type
 * (one or a list), properties, additionalProperties (false or a schema), required, items,
 * enum, oneOf, anyOf and local $refs, and the bounds CRD schemas use (pattern, minimum, maximum,
 * minLength, maxLength, minItems, maxItems). The first violation is returned with the path of the
 * field, so an error names `spec.template.spec.containers[0].imagePullPolicy`, not a schema
 * pointer. Annotation keywords (description, format, x-kubernetes-*) are not checked.
 */

export type JsonSchema = {
  readonly type?: string | readonly string[];
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly additionalProperties?: boolean | JsonSchema;
  readonly required?: readonly string[];
  readonly items?: JsonSchema;
  readonly enum?: readonly unknown[];
  readonly pattern?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly oneOf?: readonly JsonSchema[];
  readonly anyOf?: readonly JsonSchema[];
  readonly $ref?: string;
  readonly definitions?: Readonly<Record<string, JsonSchema>>;
};

export interface SchemaViolation {
  /** The field, e.g. spec.replicas or spec.ports[0].port ('' for the object itself). */
  readonly path: string;
  readonly message: string;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typeMatches(want: string, actual: string): boolean {
  return want === actual || (want === 'number' && actual === 'integer');
}

function child(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

const MAX_DEPTH = 200;

/** The bounds of a string, number or list; undefined when they hold. */
function checkBounds(schema: JsonSchema, value: unknown, actual: string): string | undefined {
  if (actual === 'string') {
    const text = value as string;
    if (schema.minLength !== undefined && text.length < schema.minLength)
      return `must be at least ${schema.minLength} characters long`;
    if (schema.maxLength !== undefined && text.length > schema.maxLength)
      return `must be at most ${schema.maxLength} characters long`;
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(text))
      return `must match ${schema.pattern}, not ${JSON.stringify(text)}`;
  }
  if (actual === 'integer' || actual === 'number') {
    const n = value as number;
    if (schema.minimum !== undefined && n < schema.minimum) return `must be at least ${schema.minimum}`;
    if (schema.maximum !== undefined && n > schema.maximum) return `must be at most ${schema.maximum}`;
  }
  if (actual === 'array') {
    const list = value as unknown[];
    if (schema.minItems !== undefined && list.length < schema.minItems)
      return `must have at least ${schema.minItems} items`;
    if (schema.maxItems !== undefined && list.length > schema.maxItems)
      return `must have at most ${schema.maxItems} items`;
  }
  return undefined;
}

class Checker {
  constructor(private readonly root: JsonSchema) {}

  private resolve(schema: JsonSchema): JsonSchema {
    let current = schema;
    for (let hops = 0; current.$ref !== undefined; hops++) {
      const match = /^#\/definitions\/(.+)$/.exec(current.$ref);
      const target = match ? this.root.definitions?.[match[1]!] : undefined;
      if (!target || hops > 20) throw new Error(`unresolvable schema reference ${current.$ref}`);
      current = target;
    }
    return current;
  }

  check(input: JsonSchema, value: unknown, path: string, depth: number): SchemaViolation | undefined {
    if (depth > MAX_DEPTH) return { path, message: 'is nested too deeply' };
    const schema = this.resolve(input);
    const actual = typeOf(value);
    if (schema.type !== undefined) {
      const wanted = typeof schema.type === 'string' ? [schema.type] : schema.type;
      if (!wanted.some((w) => typeMatches(w, actual)))
        return { path, message: `must be ${wanted.filter((w) => w !== 'null').join(' or ')}, not ${actual}` };
    }
    if (schema.enum !== undefined && !schema.enum.some((e) => e === value)) {
      const allowed = schema.enum.filter((e) => e !== null).map((e) => JSON.stringify(e));
      return { path, message: `must be one of ${allowed.join(', ')}, not ${JSON.stringify(value)}` };
    }
    const bound = checkBounds(schema, value, actual);
    if (bound) return { path, message: bound };
    if (schema.oneOf !== undefined) {
      const matching = schema.oneOf.filter((s) => this.check(s, value, path, depth + 1) === undefined);
      if (matching.length !== 1)
        return { path, message: `must match exactly one allowed form (matches ${matching.length})` };
    }
    if (schema.anyOf !== undefined && !schema.anyOf.some((s) => !this.check(s, value, path, depth + 1)))
      return { path, message: 'matches none of the allowed forms' };
    if (actual === 'object') return this.checkObject(schema, value as Record<string, unknown>, path, depth);
    if (actual === 'array' && schema.items !== undefined) {
      const items = value as unknown[];
      for (let i = 0; i < items.length; i++) {
        const problem = this.check(schema.items, items[i], child(path, i), depth + 1);
        if (problem) return problem;
      }
    }
    return undefined;
  }

  private checkObject(
    schema: JsonSchema,
    value: Record<string, unknown>,
    path: string,
    depth: number,
  ): SchemaViolation | undefined {
    for (const key of schema.required ?? []) {
      if (!(key in value)) return { path: child(path, key), message: 'is required' };
    }
    for (const [key, v] of Object.entries(value)) {
      const property = schema.properties?.[key];
      if (property !== undefined) {
        const problem = this.check(property, v, child(path, key), depth + 1);
        if (problem) return problem;
      } else if (schema.additionalProperties === false) {
        return { path: child(path, key), message: 'is not a field of this object' };
      } else if (typeof schema.additionalProperties === 'object') {
        const problem = this.check(schema.additionalProperties, v, child(path, key), depth + 1);
        if (problem) return problem;
      }
    }
    return undefined;
  }
}

/** The first violation of `value` against `schema`, or undefined when it conforms. */
export function firstViolation(schema: JsonSchema, value: unknown): SchemaViolation | undefined {
  return new Checker(schema).check(schema, value, '', 0);
}
