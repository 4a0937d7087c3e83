/**
 * A parser for the subset of proto3 that our own .proto files (../proto) use, so those files stay
 * the single source of truth for the wire format without loading protobufjs at run time.
 *
 * Accepted: `syntax = "proto3";`, `package`, `import "file";` (resolved in the same folder),
 * `option name = constant;` (read and ignored: none changes the wire format), line and block
 * comments, messages with nested messages and enums, scalar / enum / message fields, `repeated`,
 * `oneof`, enums, and services whose rpcs may `stream` either side. Anything else (proto2, map,
 * extensions, reserved, field options...) is refused with MK_INTERNAL naming the file and line,
 * rather than being half-understood.
 *
 * Type names are resolved as protoc does: a leading dot is fully qualified, otherwise the
 * innermost enclosing scope that knows the first name component wins.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MicroK8sError } from '../../../lib/errors.js';

export const SCALAR_TYPES = [
  'double',
  'float',
  'int32',
  'int64',
  'uint32',
  'uint64',
  'sint32',
  'sint64',
  'fixed32',
  'fixed64',
  'sfixed32',
  'sfixed64',
  'bool',
  'string',
  'bytes',
] as const;
export type ScalarType = (typeof SCALAR_TYPES)[number];

const SCALARS = new Set<string>(SCALAR_TYPES);

/** Field numbers protobuf allows: 1 to 2^29 - 1, without the range reserved for the implementation. */
const MAX_FIELD_NUMBER = 2 ** 29 - 1;
const RESERVED_FIELD_NUMBERS = { from: 19000, to: 19999 } as const;
/** At most this many imported files in one schema: an import cycle or a runaway is a bug. */
const MAX_SCHEMA_FILES = 64;

export interface FieldSchema {
  readonly name: string;
  readonly number: number;
  /** A scalar type, or 'message' / 'enum' with `typeName` set. */
  readonly kind: ScalarType | 'message' | 'enum';
  /** Fully qualified name (no leading dot) of the message or enum type. */
  readonly typeName?: string;
  readonly repeated: boolean;
  /** The oneof this field belongs to. */
  readonly oneof?: string;
}

export interface MessageSchema {
  readonly fullName: string;
  /** In declaration order. */
  readonly fields: readonly FieldSchema[];
  /** Oneof names, in declaration order. */
  readonly oneofs: readonly string[];
}

export interface EnumSchema {
  readonly fullName: string;
  readonly values: readonly { readonly name: string; readonly number: number }[];
}

export interface MethodSchema {
  readonly name: string;
  /** The gRPC path: "/package.Service/Method". */
  readonly path: string;
  readonly requestType: string;
  readonly responseType: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

export interface ServiceSchema {
  readonly fullName: string;
  readonly methods: readonly MethodSchema[];
}

export interface Schema {
  readonly messages: ReadonlyMap<string, MessageSchema>;
  readonly enums: ReadonlyMap<string, EnumSchema>;
  readonly services: ReadonlyMap<string, ServiceSchema>;
}

// ------------------------------------------------------------------ tokens

interface Token {
  readonly text: string;
  /** 'id' (identifiers, dotted names, keywords), 'num', 'str' or 'sym'. */
  readonly type: 'id' | 'num' | 'str' | 'sym';
  readonly line: number;
}

function fail(file: string, line: number, message: string): never {
  throw new MicroK8sError('MK_INTERNAL', `${file}:${line}: ${message}`, { file, line });
}

const SYMBOLS = new Set(['{', '}', '(', ')', ';', '=', '<', '>', ',', '[', ']']);

function tokenize(file: string, text: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < n && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const start = line;
      i += 2;
      while (i < n && !(text[i] === '*' && text[i + 1] === '/')) {
        if (text[i] === '\n') line++;
        i++;
      }
      if (i >= n) fail(file, start, 'unterminated block comment');
      i += 2;
    } else if (c === '"' || c === "'") {
      // Strings here are file names and option values: no escapes are needed or accepted.
      let j = i + 1;
      while (j < n && text[j] !== c && text[j] !== '\n' && text[j] !== '\\') j++;
      if (text[j] !== c) fail(file, line, 'unterminated or escaped string literal');
      tokens.push({ text: text.slice(i + 1, j), type: 'str', line });
      i = j + 1;
    } else if (/[A-Za-z_.]/.test(c)) {
      let j = i;
      while (j < n && /[A-Za-z0-9_.]/.test(text[j]!)) j++;
      tokens.push({ text: text.slice(i, j), type: 'id', line });
      i = j;
    } else if (/[0-9-]/.test(c)) {
      let j = i + 1;
      while (j < n && /[0-9A-Za-z.]/.test(text[j]!)) j++;
      tokens.push({ text: text.slice(i, j), type: 'num', line });
      i = j;
    } else if (SYMBOLS.has(c)) {
      tokens.push({ text: c, type: 'sym', line });
      i++;
    } else {
      fail(file, line, `unexpected character ${JSON.stringify(c)}`);
    }
  }
  return tokens;
}

// ------------------------------------------------------------------ parse (unresolved)

interface RawField {
  readonly name: string;
  readonly number: number;
  readonly typeRef: string;
  readonly repeated: boolean;
  readonly oneof?: string;
  readonly line: number;
}

interface RawMessage {
  readonly fullName: string;
  readonly fields: RawField[];
  readonly oneofs: string[];
  readonly file: string;
}

interface RawMethod {
  readonly name: string;
  readonly requestRef: string;
  readonly responseRef: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly line: number;
}

interface RawService {
  readonly fullName: string;
  readonly methods: RawMethod[];
  readonly file: string;
}

interface RawFile {
  readonly file: string;
  readonly pkg: string;
  readonly imports: string[];
  readonly messages: RawMessage[];
  readonly enums: EnumSchema[];
  readonly services: RawService[];
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TYPE_REF = /^\.?[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

class Parser {
  private pos = 0;
  private readonly messages: RawMessage[] = [];
  private readonly enums: EnumSchema[] = [];
  private readonly services: RawService[] = [];
  private readonly imports: string[] = [];
  private pkg = '';

  constructor(
    private readonly file: string,
    private readonly tokens: Token[],
  ) {}

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  private line(): number {
    return (this.peek() ?? this.tokens[this.tokens.length - 1])?.line ?? 1;
  }

  private error(message: string): never {
    fail(this.file, this.line(), message);
  }

  private next(): Token {
    const t = this.tokens[this.pos++];
    if (t === undefined) fail(this.file, this.line(), 'unexpected end of file');
    return t;
  }

  private expect(text: string): void {
    const t = this.next();
    if (t.text !== text || (t.type !== 'sym' && t.type !== 'id')) {
      fail(this.file, t.line, `expected ${JSON.stringify(text)}, found ${JSON.stringify(t.text)}`);
    }
  }

  private accept(text: string): boolean {
    const t = this.peek();
    if (t !== undefined && t.text === text && (t.type === 'sym' || t.type === 'id')) {
      this.pos++;
      return true;
    }
    return false;
  }

  private ident(what: string): string {
    const t = this.next();
    if (t.type !== 'id' || !IDENT.test(t.text)) fail(this.file, t.line, `expected ${what}, found ${t.text}`);
    return t.text;
  }

  private typeRef(): string {
    const t = this.next();
    if (t.type !== 'id' || !TYPE_REF.test(t.text))
      fail(this.file, t.line, `expected a type, found ${t.text}`);
    return t.text;
  }

  private integer(what: string): number {
    const t = this.next();
    if (t.type !== 'num' || !/^-?(0|[1-9][0-9]*)$/.test(t.text)) {
      fail(this.file, t.line, `expected ${what} (a decimal integer), found ${t.text}`);
    }
    const v = Number(t.text);
    if (!Number.isSafeInteger(v)) fail(this.file, t.line, `${what} ${t.text} is out of range`);
    return v;
  }

  parse(): RawFile {
    let sawSyntax = false;
    while (this.peek() !== undefined) {
      const t = this.next();
      if (t.type !== 'id') fail(this.file, t.line, `unexpected ${JSON.stringify(t.text)} at top level`);
      switch (t.text) {
        case 'syntax': {
          this.expect('=');
          const s = this.next();
          if (s.type !== 'str' || s.text !== 'proto3')
            fail(this.file, s.line, 'only syntax = "proto3" is supported');
          this.expect(';');
          sawSyntax = true;
          break;
        }
        case 'package':
          if (this.pkg !== '') fail(this.file, t.line, 'a second package statement');
          this.pkg = this.typeRef();
          if (this.pkg.startsWith('.')) fail(this.file, t.line, 'a package name cannot start with a dot');
          this.expect(';');
          break;
        case 'import': {
          const s = this.next();
          if (s.type !== 'str') fail(this.file, s.line, 'only plain `import "file.proto";` is supported');
          this.imports.push(s.text);
          this.expect(';');
          break;
        }
        case 'option':
          this.option();
          break;
        case 'message':
          this.message(this.pkg);
          break;
        case 'enum':
          this.enumDecl(this.pkg);
          break;
        case 'service':
          this.service();
          break;
        default:
          fail(this.file, t.line, `unsupported statement ${JSON.stringify(t.text)}`);
      }
      if (!sawSyntax) fail(this.file, t.line, 'the file must start with syntax = "proto3";');
    }
    if (!sawSyntax) fail(this.file, 1, 'the file must declare syntax = "proto3";');
    return {
      file: this.file,
      pkg: this.pkg,
      imports: this.imports,
      messages: this.messages,
      enums: this.enums,
      services: this.services,
    };
  }

  /** `option name = constant;` after the keyword: accepted and ignored (none affects the wire). */
  private option(): void {
    const name = this.next();
    if (name.type !== 'id') fail(this.file, name.line, 'expected an option name');
    this.expect('=');
    const value = this.next();
    if (value.type === 'sym') fail(this.file, value.line, 'only constant option values are supported');
    this.expect(';');
  }

  private message(scope: string): void {
    const name = this.ident('a message name');
    const fullName = qualify(scope, name);
    const msg: RawMessage = { fullName, fields: [], oneofs: [], file: this.file };
    this.messages.push(msg);
    this.expect('{');
    while (!this.accept('}')) {
      const t = this.peek();
      if (t === undefined) this.error(`message ${name} is not closed`);
      if (this.accept(';')) continue;
      if (t.type === 'id' && t.text === 'message') {
        this.pos++;
        this.message(fullName);
      } else if (t.type === 'id' && t.text === 'enum') {
        this.pos++;
        this.enumDecl(fullName);
      } else if (t.type === 'id' && t.text === 'oneof') {
        this.pos++;
        this.oneof(msg);
      } else if (t.type === 'id' && t.text === 'option') {
        this.pos++;
        this.option();
      } else {
        msg.fields.push(this.field(undefined));
      }
    }
  }

  private oneof(msg: RawMessage): void {
    const name = this.ident('a oneof name');
    msg.oneofs.push(name);
    this.expect('{');
    while (!this.accept('}')) {
      if (this.peek() === undefined) this.error(`oneof ${name} is not closed`);
      if (this.accept(';')) continue;
      msg.fields.push(this.field(name));
    }
  }

  private field(oneof: string | undefined): RawField {
    const line = this.line();
    let repeated = false;
    const first = this.peek();
    if (first?.type === 'id' && first.text === 'repeated') {
      if (oneof !== undefined) this.error('a oneof member cannot be repeated');
      this.pos++;
      repeated = true;
    } else if (
      first?.type === 'id' &&
      ['optional', 'required', 'map', 'group', 'extend'].includes(first.text)
    ) {
      this.error(`unsupported field syntax ${JSON.stringify(first.text)}`);
    } else if (first?.type === 'id' && ['reserved', 'extensions'].includes(first.text)) {
      this.error(`unsupported statement ${JSON.stringify(first.text)}`);
    }
    const typeRef = this.typeRef();
    if (typeRef === 'map') this.error('map fields are not supported');
    const name = this.ident('a field name');
    this.expect('=');
    const number = this.integer('a field number');
    if (number < 1 || number > MAX_FIELD_NUMBER) this.error(`field number ${number} is out of range`);
    if (number >= RESERVED_FIELD_NUMBERS.from && number <= RESERVED_FIELD_NUMBERS.to) {
      this.error(`field number ${number} is reserved by protobuf`);
    }
    if (this.peek()?.text === '[') this.error('field options are not supported');
    this.expect(';');
    return oneof === undefined
      ? { name, number, typeRef, repeated, line }
      : { name, number, typeRef, repeated, oneof, line };
  }

  private enumDecl(scope: string): void {
    const name = this.ident('an enum name');
    const values: { name: string; number: number }[] = [];
    this.expect('{');
    while (!this.accept('}')) {
      const t = this.peek();
      if (t === undefined) this.error(`enum ${name} is not closed`);
      if (this.accept(';')) continue;
      if (t.type === 'id' && t.text === 'option') {
        this.pos++;
        this.option();
        continue;
      }
      const valueName = this.ident('an enum value name');
      this.expect('=');
      const number = this.integer('an enum value');
      if (number < -(2 ** 31) || number >= 2 ** 31) this.error(`enum value ${number} is not an int32`);
      if (this.peek()?.text === '[') this.error('enum value options are not supported');
      this.expect(';');
      if (values.some((v) => v.name === valueName)) this.error(`enum value ${valueName} is declared twice`);
      values.push({ name: valueName, number });
    }
    if (values[0]?.number !== 0) this.error(`the first value of proto3 enum ${name} must be 0`);
    this.enums.push({ fullName: qualify(scope, name), values });
  }

  private service(): void {
    const name = this.ident('a service name');
    const svc: RawService = { fullName: qualify(this.pkg, name), methods: [], file: this.file };
    this.services.push(svc);
    this.expect('{');
    while (!this.accept('}')) {
      const t = this.peek();
      if (t === undefined) this.error(`service ${name} is not closed`);
      if (this.accept(';')) continue;
      if (t.type === 'id' && t.text === 'option') {
        this.pos++;
        this.option();
        continue;
      }
      const line = this.line();
      this.expect('rpc');
      const methodName = this.ident('an rpc name');
      this.expect('(');
      const requestStream = this.streamKeyword();
      const requestRef = this.typeRef();
      this.expect(')');
      this.expect('returns');
      this.expect('(');
      const responseStream = this.streamKeyword();
      const responseRef = this.typeRef();
      this.expect(')');
      if (this.accept('{')) {
        // Method options only; read and ignored like any other option.
        while (!this.accept('}')) {
          if (this.accept(';')) continue;
          this.expect('option');
          this.option();
        }
      } else {
        this.expect(';');
      }
      if (svc.methods.some((m) => m.name === methodName)) this.error(`rpc ${methodName} is declared twice`);
      svc.methods.push({ name: methodName, requestRef, responseRef, requestStream, responseStream, line });
    }
  }

  /** `stream` before a type, unless the type itself is named "stream". */
  private streamKeyword(): boolean {
    const t = this.peek();
    const after = this.tokens[this.pos + 1];
    if (t?.type === 'id' && t.text === 'stream' && after?.type === 'id') {
      this.pos++;
      return true;
    }
    return false;
  }
}

/** Parse one file's text; names are resolved later, across files. */
function parseFile(file: string, text: string): RawFile {
  return new Parser(file, tokenize(file, text)).parse();
}

// ------------------------------------------------------------------ resolve

interface Resolver {
  readonly messages: Map<string, RawMessage>;
  readonly enums: Map<string, EnumSchema>;
  /** Every package and type name, and every prefix of one: what a name's first component may denote. */
  readonly namespaces: Set<string>;
}

function qualify(scope: string, name: string): string {
  return scope === '' ? name : `${scope}.${name}`;
}

/** The fully qualified name `ref` denotes from inside `scope`, or undefined. */
function resolveName(r: Resolver, scope: string, ref: string): string | undefined {
  const known = (name: string) => r.messages.has(name) || r.enums.has(name);
  if (ref.startsWith('.')) return known(ref.slice(1)) ? ref.slice(1) : undefined;
  // As protoc: the innermost scope that knows the first component decides.
  const dot = ref.indexOf('.');
  const first = dot < 0 ? ref : ref.slice(0, dot);
  let s = scope;
  for (;;) {
    const candidate = qualify(s, first);
    if (r.namespaces.has(candidate)) {
      const full = qualify(s, ref);
      if (known(full)) return full;
      // A type of that name hides any outer one: protoc refuses the reference too.
      if (known(candidate)) return undefined;
    }
    if (s === '') return undefined;
    const cut = s.lastIndexOf('.');
    s = cut < 0 ? '' : s.slice(0, cut);
  }
}

function resolveField(r: Resolver, msg: RawMessage, f: RawField): FieldSchema {
  const base = { name: f.name, number: f.number, repeated: f.repeated };
  const withOneof = f.oneof === undefined ? base : { ...base, oneof: f.oneof };
  if (SCALARS.has(f.typeRef)) return { ...withOneof, kind: f.typeRef as ScalarType };
  const full = resolveName(r, msg.fullName, f.typeRef);
  if (full === undefined)
    fail(msg.file, f.line, `unknown type ${f.typeRef} of field ${msg.fullName}.${f.name}`);
  return { ...withOneof, kind: r.messages.has(full) ? 'message' : 'enum', typeName: full };
}

function resolveMessageRef(r: Resolver, file: string, scope: string, ref: string, line: number): string {
  const full = resolveName(r, scope, ref);
  if (full === undefined || !r.messages.has(full)) fail(file, line, `unknown message type ${ref}`);
  return full;
}

function checkMessage(msg: RawMessage, fields: readonly FieldSchema[]): void {
  const names = new Set<string>();
  const numbers = new Set<number>();
  for (const [i, f] of fields.entries()) {
    const line = msg.fields[i]!.line;
    if (names.has(f.name)) fail(msg.file, line, `field ${msg.fullName}.${f.name} is declared twice`);
    if (numbers.has(f.number))
      fail(msg.file, line, `field number ${f.number} is used twice in ${msg.fullName}`);
    if (msg.oneofs.includes(f.name)) fail(msg.file, line, `field ${f.name} has the name of a oneof`);
    names.add(f.name);
    numbers.add(f.number);
  }
}

/**
 * Parse `files` (names relative to `dir`) and every file they import, and resolve every type name.
 * Throws MK_INTERNAL naming the file and line of anything unsupported or unresolved.
 */
export function loadSchema(dir: string, files: readonly string[]): Schema {
  const parsed = new Map<string, RawFile>();
  const queue = [...files];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (parsed.has(file)) continue;
    if (parsed.size >= MAX_SCHEMA_FILES) fail(file, 1, `more than ${MAX_SCHEMA_FILES} imported files`);
    let text: string;
    try {
      text = readFileSync(join(dir, file), 'utf8');
    } catch (error) {
      throw new MicroK8sError('MK_INTERNAL', `cannot read proto file ${file}: ${String(error)}`, {
        dir,
        file,
      });
    }
    const raw = parseFile(file, text);
    parsed.set(file, raw);
    queue.push(...raw.imports);
  }
  return resolveFiles([...parsed.values()]);
}

/** Parse and resolve proto texts given in memory, keyed by file name (imports refer to the keys). */
export function parseSchema(texts: Readonly<Record<string, string>>): Schema {
  const raws = Object.entries(texts).map(([file, text]) => parseFile(file, text));
  for (const raw of raws) {
    for (const imported of raw.imports) {
      if (!(imported in texts)) fail(raw.file, 1, `imported file ${imported} is not given`);
    }
  }
  return resolveFiles(raws);
}

function resolveFiles(raws: readonly RawFile[]): Schema {
  const r: Resolver = { messages: new Map(), enums: new Map(), namespaces: new Set() };
  for (const raw of raws) {
    for (const m of raw.messages) {
      if (r.messages.has(m.fullName) || r.enums.has(m.fullName))
        fail(raw.file, 1, `type ${m.fullName} is declared twice`);
      r.messages.set(m.fullName, m);
    }
    for (const e of raw.enums) {
      if (r.messages.has(e.fullName) || r.enums.has(e.fullName))
        fail(raw.file, 1, `type ${e.fullName} is declared twice`);
      r.enums.set(e.fullName, e);
    }
  }
  for (const name of [...r.messages.keys(), ...r.enums.keys()]) {
    const parts = name.split('.');
    for (let i = 1; i <= parts.length; i++) r.namespaces.add(parts.slice(0, i).join('.'));
  }
  const messages = new Map<string, MessageSchema>();
  for (const m of r.messages.values()) {
    const fields = m.fields.map((f) => resolveField(r, m, f));
    checkMessage(m, fields);
    messages.set(m.fullName, { fullName: m.fullName, fields, oneofs: m.oneofs });
  }
  const services = new Map<string, ServiceSchema>();
  for (const raw of raws) {
    for (const s of raw.services) {
      if (services.has(s.fullName)) fail(raw.file, 1, `service ${s.fullName} is declared twice`);
      const methods = s.methods.map(
        (m): MethodSchema => ({
          name: m.name,
          path: `/${s.fullName}/${m.name}`,
          requestType: resolveMessageRef(r, raw.file, raw.pkg, m.requestRef, m.line),
          responseType: resolveMessageRef(r, raw.file, raw.pkg, m.responseRef, m.line),
          requestStream: m.requestStream,
          responseStream: m.responseStream,
        }),
      );
      services.set(s.fullName, { fullName: s.fullName, methods });
    }
  }
  return { messages, enums: r.enums, services };
}
