/**
 * Our protobuf codec (src/datastore/etcd/protobuf) against the oracle it replaces: protobufjs with
 * @grpc/proto-loader's options. Seeded random messages of every type go both ways, and decoded
 * objects must equal proto-loader's, key order included; malformed input must fail with our code.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LOADER_OPTIONS, protoDir } from '../../src/datastore/etcd/proto.js';
import {
  type Codecs,
  createCodecs,
  MAX_MESSAGE_DEPTH,
  type MessageCodec,
  PROTOBUF_ERROR_CODE,
} from '../../src/datastore/etcd/protobuf/codec.js';
import { loadSchema, parseSchema, type Schema } from '../../src/datastore/etcd/protobuf/schema.js';
import { camelCase, etcdServiceDefinitions } from '../../src/datastore/etcd/protobuf/service.js';
import { isMicroK8sError } from '../../src/lib/errors.js';

const DIR = protoDir();
const FILES = ['rpc.proto', 'health.proto'];
/** Random messages per type and direction. */
const ROUNDS = 150;
const SEED = 0x5eed;

const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: Number,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

// ------------------------------------------------------------------ oracle

interface Oracle {
  encode(name: string, obj: object): Buffer;
  decode(name: string, bytes: Uint8Array): Record<string, unknown>;
  root: protobuf.Root;
}

function oracle(dir: string, files: readonly string[]): Oracle {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(dir, target);
  root.loadSync([...files], { keepCase: true });
  root.resolveAll();
  return {
    root,
    encode: (name, obj) => {
      const t = root.lookupType(name);
      return Buffer.from(t.encode(t.fromObject(obj)).finish());
    },
    decode: (name, bytes) => {
      const t = root.lookupType(name);
      return t.toObject(t.decode(Buffer.from(bytes)), TO_OBJECT);
    },
  };
}

const ORACLE = oracle(DIR, FILES);
const SCHEMA = loadSchema(DIR, FILES);
const CODECS = createCodecs(SCHEMA);

/** JSON with key order kept: equal strings mean equal values in the same key order. */
function ordered(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
}

function same(actual: unknown, expected: unknown, what: string): void {
  assert.equal(actual, expected, what);
  assert.is(ordered(actual), ordered(expected), `${what}: key order`);
}

// ------------------------------------------------------------------ random messages

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INT64_EDGES = [
  0n,
  1n,
  -1n,
  127n,
  128n,
  2n ** 31n - 1n,
  -(2n ** 31n),
  2n ** 32n,
  2n ** 53n - 1n,
  2n ** 53n,
  -(2n ** 53n) - 1n,
  2n ** 63n - 1n,
  -(2n ** 63n),
];
const UINT64_EDGES = [
  0n,
  1n,
  2n ** 53n - 1n,
  2n ** 53n + 1n,
  2n ** 63n,
  2n ** 64n - 1n,
  12345678901234567890n,
];
const STRINGS = [
  '',
  'a',
  'héllo wörld',
  '日本語のテキスト',
  '😀 emoji',
  'x'.repeat(43),
  'é'.repeat(70),
  'k'.repeat(200),
];

class Gen {
  readonly next: () => number;
  constructor(
    seed: number,
    readonly schema: Schema,
  ) {
    this.next = rng(seed);
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  /** An int64 in one of the forms handlers and fromObject use: number, decimal string, bigint. */
  long(big: bigint): unknown {
    const form = this.int(3);
    const safe = big >= -(2n ** 53n) + 1n && big <= 2n ** 53n - 1n;
    if (form === 0 && safe) return Number(big);
    if (form === 1) return big;
    return big.toString();
  }

  int64(): unknown {
    if (this.int(2) === 0) return this.long(this.pick(INT64_EDGES));
    const v = BigInt(this.int(2 ** 30)) * BigInt(this.int(2 ** 30)) * (this.int(2) ? 1n : -1n);
    return this.long(BigInt.asIntN(64, v));
  }

  uint64(): unknown {
    if (this.int(2) === 0) return this.long(this.pick(UINT64_EDGES));
    return this.long(BigInt(this.int(2 ** 31)) * BigInt(this.int(2 ** 31)));
  }

  bytes(): Uint8Array {
    const n = this.pick([0, 1, 5, 40, 127, 128, 300]);
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return this.int(2) ? b : new Uint8Array(b);
  }

  scalar(kind: string, typeName: string | undefined): unknown {
    switch (kind) {
      case 'int64':
      case 'sint64':
      case 'sfixed64':
        return this.int64();
      case 'uint64':
      case 'fixed64':
        return this.uint64();
      case 'int32':
      case 'sint32':
      case 'sfixed32':
        return this.pick([0, 1, -1, 2 ** 31 - 1, -(2 ** 31), this.int(1000) - 500]);
      case 'uint32':
      case 'fixed32':
        return this.pick([0, 1, 2 ** 32 - 1, 2 ** 31, this.int(2 ** 32)]);
      case 'double':
        return this.pick([0, -0, 1.5, -2.25, 1e300, Number.MIN_VALUE, this.next()]);
      case 'float':
        return Math.fround(this.pick([0, 1.5, -2.25, 3.4e38, this.next()]));
      case 'bool':
        return this.int(2) === 0;
      case 'string':
        return this.pick(STRINGS);
      case 'bytes':
        return this.bytes();
      case 'enum': {
        const values = this.schema.enums.get(typeName!)!.values;
        // An unknown enum number stays visible to handlers, as with proto-loader.
        return this.int(8) === 0 ? 7 : this.pick(values).number;
      }
      default:
        throw new Error(`no generator for ${kind}`);
    }
  }

  message(name: string, depth: number): Record<string, unknown> {
    const msg = this.schema.messages.get(name)!;
    const out: Record<string, unknown> = {};
    const chosen = new Map<string, string>();
    for (const oneof of msg.oneofs) {
      const members = msg.fields.filter((f) => f.oneof === oneof);
      if (this.int(4) !== 0) chosen.set(oneof, this.pick(members).name);
    }
    for (const f of msg.fields) {
      if (f.oneof !== undefined ? chosen.get(f.oneof) !== f.name : this.int(10) < 3) continue;
      const one = () => {
        if (f.kind !== 'message') return this.scalar(f.kind, f.typeName);
        return depth < 4 ? this.message(f.typeName!, depth + 1) : {};
      };
      if (f.repeated) {
        const n = depth < 3 ? this.int(4) : this.int(2);
        out[f.name] = Array.from({ length: n }, one);
      } else {
        out[f.name] = one();
      }
    }
    return out;
  }
}

// ------------------------------------------------------------------ schema

test('schema: every type, field and enum matches protobufjs reflection', () => {
  const seen = new Set<string>();
  const walk = (ns: protobuf.NamespaceBase) => {
    for (const nested of ns.nestedArray) {
      const full = nested.fullName.slice(1);
      if (nested instanceof protobuf.Type) {
        seen.add(full);
        const ours = SCHEMA.messages.get(full);
        assert.ok(ours, `message ${full}`);
        assert.equal(
          ours.fields.map((f) => [f.name, f.number, f.typeName ?? f.kind, f.repeated, f.oneof ?? null]),
          nested.fieldsArray.map((f) => [
            f.name,
            f.id,
            f.resolvedType ? f.resolvedType.fullName.slice(1) : f.type,
            f.repeated,
            f.partOf ? f.partOf.name : null,
          ]),
          full,
        );
      } else if (nested instanceof protobuf.Enum) {
        seen.add(full);
        assert.equal(
          SCHEMA.enums.get(full)?.values.map((v) => [v.name, v.number]),
          Object.entries(nested.values),
          full,
        );
      }
      if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) walk(nested);
    }
  };
  walk(ORACLE.root);
  assert.equal(new Set([...SCHEMA.messages.keys(), ...SCHEMA.enums.keys()]), seen);
});

test('service definitions: same methods, paths, stream flags and names as proto-loader', () => {
  const def = protoLoader.loadSync(FILES, { ...LOADER_OPTIONS, includeDirs: [DIR] });
  const ours = etcdServiceDefinitions(DIR);
  const names = {
    KV: 'etcdserverpb.KV',
    Watch: 'etcdserverpb.Watch',
    Lease: 'etcdserverpb.Lease',
    Cluster: 'etcdserverpb.Cluster',
    Maintenance: 'etcdserverpb.Maintenance',
    Health: 'grpc.health.v1.Health',
  } as const;
  const gen = new Gen(SEED, SCHEMA);
  for (const [key, full] of Object.entries(names)) {
    const theirs = def[full] as Record<string, protoLoader.MethodDefinition<object, object>>;
    const mine = ours[key as keyof typeof names];
    assert.equal(Object.keys(mine), Object.keys(theirs), full);
    for (const [method, t] of Object.entries(theirs)) {
      const m = mine[method]!;
      assert.is(m.path, t.path);
      assert.is(m.requestStream, t.requestStream);
      assert.is(m.responseStream, t.responseStream);
      assert.is(m.originalName, t.originalName, `${method} originalName`);
      const reqName = (t.requestType.type as { name: string }).name;
      const resName = (t.responseType.type as { name: string }).name;
      const pkg = full.slice(0, full.lastIndexOf('.'));
      const req = gen.message(`${pkg}.${reqName}`, 1);
      const res = gen.message(`${pkg}.${resName}`, 1);
      const reqBytes = t.requestSerialize(req);
      same(m.requestDeserialize(reqBytes), t.requestDeserialize(reqBytes), `${method} request`);
      same(
        t.requestDeserialize(m.requestSerialize(req)),
        t.requestDeserialize(reqBytes),
        `${method} request`,
      );
      const resBytes = t.responseSerialize(res);
      same(m.responseDeserialize(resBytes), t.responseDeserialize(resBytes), `${method} response`);
      same(
        t.responseDeserialize(m.responseSerialize(res)),
        t.responseDeserialize(resBytes),
        `${method} response`,
      );
    }
  }
  assert.is(camelCase('HashKV'), 'hashKv');
  assert.is(etcdServiceDefinitions(DIR), ours, 'parsed once per folder');
});

// ------------------------------------------------------------------ random round trips

function roundTrips(codecs: Codecs, o: Oracle, schema: Schema, seed: number): void {
  const gen = new Gen(seed, schema);
  for (const name of codecs.names) {
    const codec = codecs.get(name);
    for (let i = 0; i < ROUNDS; i++) {
      const obj = gen.message(name, 1);
      const theirBytes = o.encode(name, obj);
      const expected = o.decode(name, theirBytes);
      same(codec.decode(theirBytes), expected, `${name} #${i}: decode of protobufjs bytes`);
      const ourBytes = codec.encode(obj);
      same(o.decode(name, ourBytes), expected, `${name} #${i}: protobufjs decode of our bytes`);
      same(codec.decode(ourBytes), expected, `${name} #${i}: our decode of our bytes`);
      // A plain Uint8Array decodes the same (bytes fields still come out as Buffers).
      same(codec.decode(new Uint8Array(theirBytes)), expected, `${name} #${i}: Uint8Array input`);
    }
  }
}

test('every etcd message type: random messages both ways equal proto-loader', () => {
  roundTrips(CODECS, ORACLE, SCHEMA, SEED);
});

test('decoded objects: defaults, null sub-messages, oneof name, Buffers, decimal int64s', () => {
  const put = CODECS.get('etcdserverpb.PutRequest');
  const empty = put.decode(Buffer.alloc(0));
  assert.equal(empty, {
    key: Buffer.alloc(0),
    value: Buffer.alloc(0),
    lease: '0',
    prev_kv: false,
    ignore_value: false,
    ignore_lease: false,
  });
  assert.ok(Buffer.isBuffer(empty.key));
  assert.equal(CODECS.get('etcdserverpb.PutResponse').decode(Buffer.alloc(0)), {
    header: null,
    prev_kv: null,
  });
  const op = CODECS.get('etcdserverpb.RequestOp');
  assert.equal(op.decode(Buffer.alloc(0)), {});
  assert.equal(op.decode(op.encode({ request_put: {} })).request, 'request_put');
  const lease = put.decode(put.encode({ key: Buffer.from('k'), lease: '-9223372036854775808' })).lease;
  assert.is(lease, '-9223372036854775808');
  assert.is(put.decode(put.encode({ lease: 2n ** 63n - 1n })).lease, '9223372036854775807');
  assert.is(put.decode(put.encode({ lease: -5 })).lease, '-5');
  const member = CODECS.get('etcdserverpb.Member');
  assert.is(member.decode(member.encode({ ID: '18446744073709551615' })).ID, '18446744073709551615');
  assert.is(member.decode(member.encode({ ID: -1 })).ID, '18446744073709551615');
});

// ------------------------------------------------------------------ what handlers send

test('handler responses encode as protobufjs encoded them', () => {
  const header = {
    cluster_id: '14841639068965178418',
    member_id: '10276657743932975437',
    revision: 42,
    raft_term: 3,
  };
  const kv = {
    key: Buffer.from('/registry/pods/a'),
    create_revision: 5,
    mod_revision: 42,
    version: 3,
    value: new Uint8Array([1, 2, 3]),
    lease: 0,
  };
  const cases: [string, object][] = [
    ['etcdserverpb.PutResponse', { header, prev_kv: null }],
    ['etcdserverpb.PutResponse', { header: { ...header, cluster_id: 12n, member_id: 0n }, prev_kv: kv }],
    [
      'etcdserverpb.DeleteRangeResponse',
      { header, deleted: 2, prev_kvs: [kv, { ...kv, value: new Uint8Array(0) }] },
    ],
    [
      'etcdserverpb.TxnResponse',
      {
        header,
        succeeded: false,
        responses: [
          {
            response_range: {
              header: { cluster_id: '0', member_id: '0', revision: 42, raft_term: 0 },
              kvs: [kv],
              more: false,
              count: 1,
            },
          },
          { response_put: { header, prev_kv: null } },
          { response_delete_range: { header, deleted: 0, prev_kvs: [] } },
          { response_txn: { header, succeeded: true, responses: [] } },
        ],
      },
    ],
    ['etcdserverpb.CompactionResponse', { header }],
    ['etcdserverpb.WatchResponse', { header, watch_id: '-1' }],
    ['etcdserverpb.WatchResponse', { header, watch_id: '7', created: true }],
    [
      'etcdserverpb.WatchResponse',
      {
        header: { ...header, revision: 0 },
        watch_id: '3',
        canceled: true,
        compact_revision: 17,
        cancel_reason: 'mvcc: required revision has been compacted',
      },
    ],
    ['etcdserverpb.LeaseGrantResponse', { header, ID: 7587862140383529000, TTL: 60, error: '' }],
    ['etcdserverpb.LeaseGrantResponse', { header, ID: 12345, TTL: 60, error: '' }],
    ['etcdserverpb.LeaseRevokeResponse', { header }],
    ['etcdserverpb.LeaseKeepAliveResponse', { header, ID: '-3', TTL: 0 }],
    ['etcdserverpb.LeaseTimeToLiveResponse', { header, ID: '99', TTL: -1, grantedTTL: 0, keys: [] }],
    [
      'etcdserverpb.LeaseTimeToLiveResponse',
      { header, ID: '99', TTL: 20, grantedTTL: 30, keys: [new Uint8Array([97]), Buffer.from('b')] },
    ],
    ['etcdserverpb.LeaseLeasesResponse', { header, leases: [{ ID: 1 }, { ID: 2 ** 52 }] }],
    [
      'etcdserverpb.StatusResponse',
      {
        header,
        version: '3.5.13',
        dbSize: 4096,
        leader: '10276657743932975437',
        raftIndex: 10,
        raftTerm: 3,
        raftAppliedIndex: 10,
        errors: ['NOSPACE'],
        dbSizeInUse: 2048,
        isLearner: false,
      },
    ],
    ['etcdserverpb.AlarmResponse', { header, alarms: [{ memberID: '10276657743932975437', alarm: 1 }] }],
    ['etcdserverpb.HashKVResponse', { header, hash: 4294967295, compact_revision: '3', hash_revision: '42' }],
    ['etcdserverpb.DefragmentResponse', { header }],
    [
      'etcdserverpb.MemberListResponse',
      {
        header,
        members: [
          {
            ID: '10276657743932975437',
            name: 'node-1',
            peerURLs: ['https://10.0.0.1:2380'],
            clientURLs: [],
            isLearner: true,
          },
        ],
      },
    ],
    ['grpc.health.v1.HealthCheckResponse', { status: 1 }],
    ['grpc.health.v1.HealthCheckResponse', { status: 'NOT_SERVING' }],
    [
      'mvccpb.Event',
      {
        type: 1,
        kv: {
          key: Buffer.alloc(0),
          create_revision: 0,
          mod_revision: 0,
          version: 0,
          value: Buffer.alloc(0),
          lease: 0,
        },
      },
    ],
  ];
  for (const [name, obj] of cases) {
    const ours = CODECS.get(name).encode(obj);
    same(ORACLE.decode(name, ours), ORACLE.decode(name, ORACLE.encode(name, obj)), name);
  }
  // An empty sub-message that is present stays present (clients read event.kv).
  const event = CODECS.get('mvccpb.Event').decode(CODECS.get('mvccpb.Event').encode({ kv: {} }));
  assert.ok(event.kv !== null);
  // A oneof member holding its zero value is still written: it says which member is set.
  const cmp = CODECS.get('etcdserverpb.Compare');
  assert.is(cmp.decode(cmp.encode({ key: Buffer.from('k'), version: 0 })).target_union, 'version');
});

test('encode refuses values no field can take (handler bugs), naming the field', () => {
  const put = CODECS.get('etcdserverpb.PutResponse');
  assert.throws(() => put.encode({ header: 5 }), /PutResponse\.header: an object expected/);
  const range = CODECS.get('etcdserverpb.RangeResponse');
  assert.throws(() => range.encode({ kvs: {} }), /RangeResponse\.kvs: an array expected/);
  const kv = CODECS.get('mvccpb.KeyValue');
  assert.throws(() => kv.encode({ lease: 'twelve' }), /KeyValue\.lease: an integer/);
  assert.throws(() => kv.encode({ key: 5 }), /KeyValue\.key: bytes/);
  const health = CODECS.get('grpc.health.v1.HealthCheckResponse');
  assert.throws(() => health.encode({ status: 'BUSY' }), /status: an enum/);
  const cyclic: Record<string, unknown> = {};
  cyclic.request_txn = { success: [cyclic] };
  assert.throws(() => CODECS.get('etcdserverpb.RequestOp').encode(cyclic), /nested deeper/);
});

// ------------------------------------------------------------------ wire details

/** A varint's bytes. */
function varint(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  while (v > 127n) {
    out.push(Number(v & 127n) | 128);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

const tagOf = (field: number, wire: number) => varint(BigInt(field * 8 + wire));
const lengthDelimited = (field: number, body: number[]) => [
  ...tagOf(field, 2),
  ...varint(BigInt(body.length)),
  ...body,
];

/** Unknown fields of every wire type, groups nested. */
function unknownFields(gen: Gen): number[] {
  const out: number[] = [];
  const count = 1 + gen.int(4);
  for (let i = 0; i < count; i++) {
    const field = 1000 + gen.int(5000);
    switch (gen.int(5)) {
      case 0:
        out.push(...tagOf(field, 0), ...varint(BigInt(gen.int(2 ** 31)) * 1234567n));
        break;
      case 1:
        out.push(...tagOf(field, 1), 1, 2, 3, 4, 5, 6, 7, 8);
        break;
      case 2:
        out.push(...lengthDelimited(field, [1, 2, 3]));
        break;
      case 3:
        out.push(...tagOf(field, 5), 9, 9, 9, 9);
        break;
      default:
        out.push(...tagOf(field, 3), ...tagOf(7, 0), 5, ...tagOf(8, 3), ...tagOf(8, 4), ...tagOf(field, 4));
    }
  }
  return out;
}

test('unknown fields of every wire type are skipped, before, between and after known ones', () => {
  const gen = new Gen(SEED + 1, SCHEMA);
  for (const name of CODECS.names) {
    for (let i = 0; i < 20; i++) {
      const known = [...ORACLE.encode(name, gen.message(name, 2))];
      const bytes = Buffer.from([...unknownFields(gen), ...known, ...unknownFields(gen)]);
      same(CODECS.get(name).decode(bytes), ORACLE.decode(name, bytes), name);
    }
  }
});

test('repeated numbers: packed and unpacked runs both accepted, mixed', () => {
  const name = 'etcdserverpb.WatchCreateRequest';
  const bytes = Buffer.from([...tagOf(5, 0), 1, ...lengthDelimited(5, [0, 1, 1]), ...tagOf(5, 0), 0]);
  const decoded = CODECS.get(name).decode(bytes);
  same(decoded, ORACLE.decode(name, bytes), name);
  assert.equal(decoded.filters, [1, 0, 1, 1, 0]);
});

test('oneof and message fields given twice: as protobufjs (no merge, every member kept)', () => {
  const op = 'etcdserverpb.RequestOp';
  const twoMembers = Buffer.from([...lengthDelimited(2, [...tagOf(3, 0), 5]), ...lengthDelimited(1, [])]);
  same(CODECS.get(op).decode(twoMembers), ORACLE.decode(op, twoMembers), 'two members');
  const cmp = 'etcdserverpb.Compare';
  const three = Buffer.from([
    ...tagOf(8, 0),
    3,
    ...tagOf(4, 0),
    1,
    ...lengthDelimited(7, [97]),
    ...tagOf(4, 0),
    2,
  ]);
  same(CODECS.get(cmp).decode(three), ORACLE.decode(cmp, three), 'three members');
  const put = 'etcdserverpb.PutResponse';
  const twice = Buffer.from([
    ...lengthDelimited(1, [...tagOf(3, 0), 5]),
    ...lengthDelimited(1, [...tagOf(4, 0), 6]),
  ]);
  same(CODECS.get(put).decode(twice), ORACLE.decode(put, twice), 'sub-message twice');
});

test('extra scalar types, nested and qualified names, several oneofs (a schema of our own)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mk-proto-'));
  try {
    writeFileSync(
      join(dir, 'extra.proto'),
      `// all the scalar types
syntax = "proto3";
package extra.v1;
option go_package = "example.com/extra";
import "base.proto";
/* a block
   comment */
message AllScalars {
  double d = 1; float f = 2; int32 i32 = 3; int64 i64 = 4; uint32 u32 = 5; uint64 u64 = 6;
  sint32 s32 = 7; sint64 s64 = 8; fixed32 f32 = 9; fixed64 f64 = 10; sfixed32 sf32 = 11;
  sfixed64 sf64 = 12; bool b = 13; string s = 14; bytes by = 15;
  repeated double rd = 16; repeated sint64 rs64 = 17; repeated fixed32 rf32 = 18;
  repeated sfixed64 rsf64 = 19; repeated int32 ri32 = 20; repeated string rs = 21;
  repeated bytes rb = 22; repeated float rf = 25; repeated bool rbool = 26; repeated uint64 ru64 = 27;
  Inner inner = 23;
  repeated AllScalars.Inner inners = 24;
  message Inner {
    enum Color { RED = 0; GREEN = 1; BLUE = -2; }
    Color color = 1;
    repeated Color colors = 2;
    oneof pick { string name = 3; .extra.v1.AllScalars.Inner next = 4; }
  }
  oneof a { int32 a1 = 30; string a2 = 31; }
  oneof bb { bool b1 = 32; base.Shared b2 = 33; }
  base.Shared.Level lvl = 34;
}
service Things { rpc Get(AllScalars) returns (stream base.Shared); }
`,
    );
    writeFileSync(
      join(dir, 'base.proto'),
      'syntax = "proto3";\npackage base;\nmessage Shared { enum Level { LOW = 0; HIGH = 1; } Level level = 1; sint32 n = 2; }\n',
    );
    const schema = loadSchema(dir, ['extra.proto']);
    assert.equal(schema.services.get('extra.v1.Things')?.methods, [
      {
        name: 'Get',
        path: '/extra.v1.Things/Get',
        requestType: 'extra.v1.AllScalars',
        responseType: 'base.Shared',
        requestStream: false,
        responseStream: true,
      },
    ]);
    roundTrips(createCodecs(schema), oracle(dir, ['extra.proto']), schema, SEED + 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------ malformed input

function rejects(codec: MessageCodec, bytes: number[], detail: RegExp): void {
  try {
    codec.decode(Buffer.from(bytes));
  } catch (error) {
    assert.ok(isMicroK8sError(error), `not a MicroK8sError: ${String(error)}`);
    assert.is(error.code, PROTOBUF_ERROR_CODE);
    assert.match(error.message, detail);
    return;
  }
  assert.unreachable(`accepted ${JSON.stringify(bytes)}`);
}

/** A TxnRequest whose success op holds a TxnRequest, `levels` txns deep. */
function nestedTxn(levels: number): number[] {
  let body: number[] = [];
  for (let i = 0; i < levels; i++) body = lengthDelimited(2, lengthDelimited(4, body));
  return body;
}

test('malformed input throws our code and says what is wrong', () => {
  const put = CODECS.get('etcdserverpb.PutRequest');
  rejects(put, [0x18, 0xff], /truncated varint/);
  rejects(put, [0x18], /truncated varint/);
  rejects(put, [0x18, ...Array(10).fill(0xff), 0x01], /longer than 10 bytes/);
  rejects(put, [0x0a, 0x05, 0x61], /length past the end/);
  rejects(put, [0x0a, 0xff, 0xff, 0xff, 0xff, 0x7f], /length past the end/);
  rejects(put, [0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], /length past the end/);
  rejects(put, [0x0e, 0x00], /invalid wire type 6/);
  rejects(put, [0x0f, 0x00], /invalid wire type 7/);
  rejects(put, [0x0c], /end-group/);
  rejects(put, [...tagOf(99, 3), ...tagOf(98, 4)], /mismatched end-group/);
  rejects(put, [...tagOf(99, 3), 0x08, 0x01], /truncated varint/);
  rejects(put, [0x00, 0x00], /field number 0/);
  rejects(put, [...tagOf(99, 1), 1, 2, 3], /truncated fixed-size/);
  rejects(put, [...tagOf(99, 5), 1], /truncated fixed-size/);
  // A sub-message's content may not run past the sub-message.
  const res = CODECS.get('etcdserverpb.PutResponse');
  rejects(res, [0x0a, 0x01, 0x18, 0x05], /truncated varint/);
  const txn = CODECS.get('etcdserverpb.TxnRequest');
  rejects(txn, nestedTxn(MAX_MESSAGE_DEPTH), /nested deeper than 64/);
  let groups: number[] = [];
  for (let i = 0; i < MAX_MESSAGE_DEPTH + 5; i++) groups = [...tagOf(99, 3), ...groups, ...tagOf(99, 4)];
  rejects(put, groups, /groups nested deeper/);
  // Deep but within the limit: as protobufjs decodes it.
  const ok = Buffer.from(nestedTxn(MAX_MESSAGE_DEPTH / 2 - 1));
  same(txn.decode(ok), ORACLE.decode('etcdserverpb.TxnRequest', ok), 'nested txn within the limit');
});

test('fuzz: mutated and truncated messages decode or fail with our code, nothing else', () => {
  const gen = new Gen(SEED + 3, SCHEMA);
  const names = CODECS.names;
  let failures = 0;
  for (let i = 0; i < 4000; i++) {
    const name = gen.pick(names);
    const bytes = [...ORACLE.encode(name, gen.message(name, 1))];
    if (bytes.length === 0) continue;
    const mutations = 1 + gen.int(3);
    for (let m = 0; m < mutations; m++) {
      const at = gen.int(bytes.length);
      if (gen.int(3) === 0) bytes.length = at;
      else bytes[at] = gen.int(256);
    }
    try {
      CODECS.get(name).decode(Buffer.from(bytes));
    } catch (error) {
      assert.ok(isMicroK8sError(error, PROTOBUF_ERROR_CODE), `${name}: ${String(error)}`);
      failures++;
    }
  }
  assert.ok(failures > 0);
});

// ------------------------------------------------------------------ schema errors

function schemaRejects(text: string, detail: RegExp): void {
  try {
    parseSchema({ 'bad.proto': text });
  } catch (error) {
    assert.ok(isMicroK8sError(error, 'MK_INTERNAL'), String(error));
    assert.match(error.message, detail);
    return;
  }
  assert.unreachable(`accepted: ${text}`);
}

test('schema: unsupported or wrong syntax is MK_INTERNAL naming file and line', () => {
  const head = 'syntax = "proto3";\npackage p;\n';
  schemaRejects('syntax = "proto2";\n', /^bad\.proto:1: only syntax = "proto3"/);
  schemaRejects(
    `${head}message M {\n  map<string, string> m = 1;\n}\n`,
    /^bad\.proto:4: unsupported field syntax "map"/,
  );
  schemaRejects(`${head}message M {\n  Nope n = 1;\n}\n`, /^bad\.proto:4: unknown type Nope/);
  schemaRejects(
    `${head}message M {\n  int64 a = 1;\n  int64 b = 1;\n}\n`,
    /^bad\.proto:5: field number 1 is used twice/,
  );
  schemaRejects(`${head}message M {\n  int64 a = 1 [packed = false];\n}\n`, /^bad\.proto:4: field options/);
  schemaRejects(`${head}enum E {\n  A = 1;\n}\n`, /first value .* must be 0/);
  schemaRejects(`${head}message M {\n  reserved 2;\n}\n`, /^bad\.proto:4: unsupported statement "reserved"/);
  schemaRejects(`${head}message M {\n  int64 a = 1;\n`, /not closed/);
  schemaRejects(`${head}extend Foo {}\n`, /^bad\.proto:3: unsupported statement "extend"/);
  schemaRejects(`${head}import "missing.proto";\n`, /missing\.proto is not given/);
  schemaRejects(`${head}/* never closed\n`, /^bad\.proto:3: unterminated block comment/);
  schemaRejects(
    `${head}service S {\n  rpc A(Nope) returns (Nope);\n}\n`,
    /^bad\.proto:4: unknown message type Nope/,
  );
  assert.throws(() => loadSchema(DIR, ['nope.proto']), /cannot read proto file nope\.proto/);
});

// How fast it is against protobufjs: `npm run bench -- codecs` (bench/codecs.ts), not a test.

test.run();
