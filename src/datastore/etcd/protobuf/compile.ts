/**
 * The tables the decoder and encoder run on, built once per message type from the schema: field
 * kinds as small integers (a switch on them is cheaper than a call through a closure), tags
 * precomputed, fields indexed by number, and the template of a decoded object with every default
 * already in place and its keys in proto-loader's order.
 */
import type { EnumSchema, FieldSchema, MessageSchema, ScalarType, Schema } from './schema.js';

export const Kind = {
  double: 0,
  float: 1,
  int32: 2,
  int64: 3,
  uint32: 4,
  uint64: 5,
  sint32: 6,
  sint64: 7,
  fixed32: 8,
  fixed64: 9,
  sfixed32: 10,
  sfixed64: 11,
  bool: 12,
  string: 13,
  bytes: 14,
  enum: 15,
  message: 16,
} as const satisfies Record<ScalarType | 'enum' | 'message', number>;
export type Kind = (typeof Kind)[keyof typeof Kind];

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LENGTH = 2;
export const WIRE_START_GROUP = 3;
export const WIRE_END_GROUP = 4;
export const WIRE_FIXED32 = 5;

function wireOf(kind: Kind): number {
  switch (kind) {
    case Kind.double:
    case Kind.fixed64:
    case Kind.sfixed64:
      return WIRE_FIXED64;
    case Kind.float:
    case Kind.fixed32:
    case Kind.sfixed32:
      return WIRE_FIXED32;
    case Kind.string:
    case Kind.bytes:
    case Kind.message:
      return WIRE_LENGTH;
    default:
      return WIRE_VARINT;
  }
}

/**
 * The empty bytes default, shared by every decoded object that has an unset bytes field: it has
 * no content to change, and one allocation per unset field per request is what we are avoiding.
 */
export const EMPTY_BYTES: Buffer = Buffer.alloc(0);

/** One field; a class so that every instance has the same shape (monomorphic property loads). */
export class CompiledField {
  /** The tag of one value of this field on the wire. */
  readonly tag: number;
  /** The tag of a packed run (repeated numeric fields). */
  readonly packedTag: number;
  readonly wire: number;
  /** Numeric repeated fields: may come packed, and are written packed (proto3's default). */
  readonly packable: boolean;
  /** The message type, once every type is compiled (message fields only). */
  type: CompiledType | undefined = undefined;
  /** Enum value numbers by name, for encoding an enum given by name (enum fields only). */
  readonly enumValues: ReadonlyMap<string, number> | undefined;
  /** Index of the field's oneof in its type's `oneofs`, or -1. */
  readonly oneofIndex: number;

  constructor(
    readonly name: string,
    readonly number: number,
    readonly kind: Kind,
    readonly repeated: boolean,
    oneofIndex: number,
    enumSchema: EnumSchema | undefined,
  ) {
    this.wire = wireOf(kind);
    this.tag = number * 8 + this.wire;
    this.packedTag = number * 8 + WIRE_LENGTH;
    this.packable = repeated && this.wire !== WIRE_LENGTH;
    this.oneofIndex = oneofIndex;
    this.enumValues = enumSchema ? new Map(enumSchema.values.map((v) => [v.name, v.number])) : undefined;
  }
}

export class CompiledType {
  /** Fields by number (dense array: our field numbers are small); holes are unknown fields. */
  readonly byNumber: (CompiledField | undefined)[] = [];
  /** Fields in field number order: the order they are written in, and proto-loader's key order. */
  readonly encodeOrder: CompiledField[];
  /** A decoded object before any field is read: repeated fields first, then defaults. */
  readonly template: Record<string, unknown> = {};
  readonly repeatedNames: string[] = [];
  /** Per oneof (schema order), its members in declaration order. */
  readonly oneofMembers: CompiledField[][];

  constructor(
    readonly name: string,
    /** In declaration order. */
    readonly fields: readonly CompiledField[],
    readonly oneofs: readonly string[],
  ) {
    for (const f of fields) this.byNumber[f.number] = f;
    this.encodeOrder = [...fields].sort((a, b) => a.number - b.number);
    this.oneofMembers = oneofs.map((_, i) => fields.filter((f) => f.oneofIndex === i));
    // protobufjs's toObject (defaults: true) sets repeated fields first, then every other field
    // that is not a oneof member, each group in field number order; keeping that order keeps the
    // decoded objects identical, key order included.
    for (const f of this.encodeOrder) {
      if (f.repeated) {
        this.template[f.name] = [];
        this.repeatedNames.push(f.name);
      }
    }
    for (const f of this.encodeOrder) {
      if (!f.repeated && f.oneofIndex < 0) this.template[f.name] = defaultValue(f.kind);
    }
  }

  /** A fresh decoded object with every default in place. */
  create(): Record<string, unknown> {
    const o = { ...this.template };
    const names = this.repeatedNames;
    for (let i = 0; i < names.length; i++) o[names[i]!] = [];
    return o;
  }
}

/** The default proto-loader gives an unset field (longs: String, enums: Number, bytes: Buffer). */
function defaultValue(kind: Kind): unknown {
  switch (kind) {
    case Kind.int64:
    case Kind.uint64:
    case Kind.sint64:
    case Kind.fixed64:
    case Kind.sfixed64:
      return '0';
    case Kind.bool:
      return false;
    case Kind.string:
      return '';
    case Kind.bytes:
      return EMPTY_BYTES;
    case Kind.message:
      return null;
    default:
      return 0;
  }
}

function compileField(schema: Schema, msg: MessageSchema, f: FieldSchema): CompiledField {
  const oneofIndex = f.oneof === undefined ? -1 : msg.oneofs.indexOf(f.oneof);
  const enumSchema = f.kind === 'enum' ? schema.enums.get(f.typeName!) : undefined;
  if (f.kind === 'enum' && enumSchema === undefined) {
    throw new Error(`schema: enum ${f.typeName} of ${msg.fullName}.${f.name} is missing`);
  }
  return new CompiledField(f.name, f.number, Kind[f.kind], f.repeated, oneofIndex, enumSchema);
}

/** Compile every message type of `schema`, message fields linked to their compiled types. */
export function compileTypes(schema: Schema): Map<string, CompiledType> {
  const types = new Map<string, CompiledType>();
  for (const msg of schema.messages.values()) {
    const fields = msg.fields.map((f) => compileField(schema, msg, f));
    types.set(msg.fullName, new CompiledType(msg.fullName, fields, msg.oneofs));
  }
  for (const msg of schema.messages.values()) {
    const t = types.get(msg.fullName)!;
    for (const [i, f] of msg.fields.entries()) {
      if (f.kind !== 'message') continue;
      const target = types.get(f.typeName!);
      if (target === undefined) throw new Error(`schema: message ${f.typeName} is missing`);
      t.fields[i]!.type = target;
    }
  }
  return types;
}
