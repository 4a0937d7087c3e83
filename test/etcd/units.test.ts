/**
 * Parts of the etcd API layer that need no client: the wire definitions (field numbers checked on
 * encoded bytes), the error mapping, the listener policy and the :authority rewriter.
 */
import http2 from 'node:http2';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AuthorityRewriter, rewriteHeaderBlock } from '../../src/datastore/etcd/authority.js';
import {
  leaseId,
  putFromWire,
  rangeFromWire,
  signed,
  txnFromWire,
} from '../../src/datastore/etcd/convert.js';
import { commandErrorSpec, ETCD_ERRORS, EtcdApiError, mapError } from '../../src/datastore/etcd/errors.js';
import { checkListenPolicy, isLoopbackHost } from '../../src/datastore/etcd/listeners.js';
import type { WireRangeRequest } from '../../src/datastore/etcd/proto.js';
import { loadEtcdServices, PROTO_FILES, protoDir } from '../../src/datastore/etcd/proto.js';
import { EtcdServer } from '../../src/datastore/etcd/server.js';
import { ETCD_MESSAGES } from '../../src/datastore/state/failures.js';
import { MicroK8sError } from '../../src/lib/errors.js';
import { packageRoot } from '../../src/lib/paths.js';
import { b, startHarness } from './helpers.js';
import { LocalBackend, quietLogger } from './local-backend.js';

// ------------------------------------------------------------------ wire definitions

/** The (field number, wire type) pairs of an encoded message, in order. */
function tags(bytes: Buffer): [number, number][] {
  const out: [number, number][] = [];
  let pos = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const byte = bytes[pos++]!;
      v += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return v;
      shift += 7;
    }
  };
  while (pos < bytes.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    out.push([field, wire]);
    if (wire === 0) varint();
    else if (wire === 2) {
      const length = varint();
      pos += length;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`wire type ${wire}`);
  }
  return out;
}

const VARINT = 0;
const LEN = 2;

function encode(
  service: keyof ReturnType<typeof loadEtcdServices>,
  method: string,
  kind: 'request' | 'response',
  value: unknown,
): Buffer {
  const def = loadEtcdServices()[service][method]!;
  return kind === 'request' ? def.requestSerialize(value) : def.responseSerialize(value);
}

test('proto files are found under the package root, the same from src/ and dist/', () => {
  assert.is(protoDir(), join(packageRoot(), 'src', 'datastore', 'etcd', 'proto'));
  assert.equal([...PROTO_FILES].sort(), ['health.proto', 'kv.proto', 'rpc.proto']);
  try {
    loadEtcdServices(join(packageRoot(), 'no-such-folder'));
    assert.unreachable('missing proto files must fail');
  } catch (error) {
    assert.instance(error, MicroK8sError);
    assert.is((error as MicroK8sError).code, 'MK_INTERNAL');
  }
});

test('service and method paths are etcd v3 and grpc.health.v1', () => {
  const s = loadEtcdServices();
  assert.equal(
    Object.values(s.KV).map((m) => m.path),
    [
      '/etcdserverpb.KV/Range',
      '/etcdserverpb.KV/Put',
      '/etcdserverpb.KV/DeleteRange',
      '/etcdserverpb.KV/Txn',
      '/etcdserverpb.KV/Compact',
    ],
  );
  assert.is(s.Watch.Watch!.path, '/etcdserverpb.Watch/Watch');
  assert.ok(s.Watch.Watch!.requestStream && s.Watch.Watch!.responseStream);
  assert.equal(
    Object.values(s.Lease).map((m) => m.path),
    [
      '/etcdserverpb.Lease/LeaseGrant',
      '/etcdserverpb.Lease/LeaseRevoke',
      '/etcdserverpb.Lease/LeaseKeepAlive',
      '/etcdserverpb.Lease/LeaseTimeToLive',
      '/etcdserverpb.Lease/LeaseLeases',
    ],
  );
  assert.is(s.Cluster.MemberList!.path, '/etcdserverpb.Cluster/MemberList');
  assert.is(s.Maintenance.Status!.path, '/etcdserverpb.Maintenance/Status');
  assert.is(s.Maintenance.Alarm!.path, '/etcdserverpb.Maintenance/Alarm');
  assert.is(s.Health.Check!.path, '/grpc.health.v1.Health/Check');
});

test('field numbers: RangeRequest 1..13, Compare range_end 64, WatchResponse events 11', () => {
  const range = encode('KV', 'Range', 'request', {
    key: b('a'),
    range_end: b('b'),
    limit: 1,
    revision: 2,
    sort_order: 1,
    sort_target: 2,
    serializable: true,
    keys_only: true,
    count_only: true,
    min_mod_revision: 3,
    max_mod_revision: 4,
    min_create_revision: 5,
    max_create_revision: 6,
  });
  assert.equal(tags(range), [
    [1, LEN],
    [2, LEN],
    ...[3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13].map((f) => [f, VARINT] as [number, number]),
  ]);
  const txn = encode('KV', 'Txn', 'request', {
    compare: [{ result: 3, target: 4, key: b('k'), lease: 7, range_end: b('l') }],
    success: [
      {
        request_put: {
          key: b('k'),
          value: b('v'),
          lease: 1,
          prev_kv: true,
          ignore_value: false,
          ignore_lease: true,
        },
      },
    ],
    failure: [
      {
        request_txn: {
          compare: [],
          success: [{ request_delete_range: { key: b('k'), range_end: b('z'), prev_kv: true } }],
        },
      },
    ],
  });
  assert.equal(tags(txn), [
    [1, LEN],
    [2, LEN],
    [3, LEN],
  ]);
  // Inside: Compare{result=1,target=2,key=3,lease=8,range_end=64}.
  const compareBytes = txn.subarray(2, 2 + txn[1]!);
  assert.equal(tags(compareBytes), [
    [1, VARINT],
    [2, VARINT],
    [3, LEN],
    [8, VARINT],
    [64, LEN],
  ]);
  const watch = encode('Watch', 'Watch', 'response', {
    header: { cluster_id: '1', member_id: '2', revision: 3, raft_term: 4 },
    watch_id: 5,
    created: true,
    canceled: true,
    compact_revision: 6,
    cancel_reason: 'x',
    fragment: true,
    events: [
      {
        type: 1,
        kv: { key: b('k'), create_revision: 1, mod_revision: 2, version: 3, value: b('v'), lease: 4 },
      },
    ],
  });
  assert.equal(tags(watch), [
    [1, LEN],
    [2, VARINT],
    [3, VARINT],
    [4, VARINT],
    [5, VARINT],
    [6, LEN],
    [7, VARINT],
    [11, LEN],
  ]);
  const create = encode('Watch', 'Watch', 'request', {
    create_request: {
      key: b('k'),
      range_end: b('l'),
      start_revision: 1,
      progress_notify: true,
      filters: [1],
      prev_kv: true,
      watch_id: 9,
      fragment: true,
    },
  });
  const inner = create.subarray(2);
  assert.equal(tags(create), [[1, LEN]]);
  assert.equal(
    tags(inner).map(([f]) => f),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  assert.equal(tags(encode('Watch', 'Watch', 'request', { progress_request: {} })), [[3, LEN]]);
  assert.equal(tags(encode('Lease', 'LeaseGrant', 'request', { TTL: 5, ID: 6 })), [
    [1, VARINT],
    [2, VARINT],
  ]);
  assert.equal(
    tags(
      encode('Maintenance', 'Status', 'response', {
        header: {},
        version: '3.5.13',
        dbSize: 1,
        leader: 2,
        raftIndex: 3,
        raftTerm: 4,
        raftAppliedIndex: 5,
        errors: ['e'],
        dbSizeInUse: 6,
        isLearner: true,
      }),
    ).map(([f]) => f),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
});

test('int64 fields round-trip beyond 2^53 as decimal strings', () => {
  const def = loadEtcdServices().KV.Range!;
  const decoded = def.requestDeserialize(
    def.requestSerialize({ key: b('k'), revision: '9223372036854775807' }),
  ) as WireRangeRequest;
  assert.is(decoded.revision, '9223372036854775807');
  assert.is(signed(decoded.revision), 2 ** 52 - 1, 'clamped to the state machine range');
  assert.is(leaseId('9223372036854775807'), undefined);
  assert.is(leaseId('-5'), undefined);
  assert.is(leaseId('0'), 0);
  assert.is(leaseId('7587848390832113682'), undefined);
  assert.is(leaseId('123456789'), 123456789);
});

// ------------------------------------------------------------------ request validation

function wireRange(over: Partial<WireRangeRequest>): WireRangeRequest {
  return {
    key: b('k'),
    range_end: Buffer.alloc(0),
    limit: '0',
    revision: '0',
    sort_order: 0,
    sort_target: 0,
    serializable: false,
    keys_only: false,
    count_only: false,
    min_mod_revision: '0',
    max_mod_revision: '0',
    min_create_revision: '0',
    max_create_revision: '0',
    ...over,
  };
}

function rejects(fn: () => unknown, message: string, code: status): void {
  try {
    fn();
  } catch (error) {
    assert.instance(error, EtcdApiError);
    assert.is((error as EtcdApiError).message, message);
    assert.is((error as EtcdApiError).grpcCode, code);
    return;
  }
  assert.unreachable(`expected "${message}"`);
}

test('range checks in etcd order: empty key, then sort options', () => {
  rejects(
    () => rangeFromWire(wireRange({ key: Buffer.alloc(0), sort_target: 9 })),
    ETCD_ERRORS.emptyKey.message,
    status.INVALID_ARGUMENT,
  );
  rejects(
    () => rangeFromWire(wireRange({ sort_target: 9 })),
    'etcdserver: invalid sort option',
    status.INVALID_ARGUMENT,
  );
  rejects(
    () => rangeFromWire(wireRange({ sort_order: 3 })),
    'etcdserver: invalid sort option',
    status.INVALID_ARGUMENT,
  );
  const r = rangeFromWire(
    wireRange({ range_end: Buffer.from([0]), limit: '-4', revision: '-1', sort_order: 2, sort_target: 4 }),
  );
  assert.equal(r, { key: b('k'), rangeEnd: Buffer.from([0]), sortOrder: 'descend', sortTarget: 'value' });
});

test('put checks: empty key, value provided, lease provided, impossible lease', () => {
  const put = {
    key: b('k'),
    value: b('v'),
    lease: '0',
    prev_kv: false,
    ignore_value: false,
    ignore_lease: false,
  };
  rejects(
    () => putFromWire({ ...put, key: Buffer.alloc(0) }),
    'etcdserver: key is not provided',
    status.INVALID_ARGUMENT,
  );
  rejects(
    () => putFromWire({ ...put, ignore_value: true }),
    'etcdserver: value is provided',
    status.INVALID_ARGUMENT,
  );
  rejects(
    () => putFromWire({ ...put, lease: '5', ignore_lease: true }),
    'etcdserver: lease is provided',
    status.INVALID_ARGUMENT,
  );
  rejects(
    () => putFromWire({ ...put, lease: '-3' }),
    'etcdserver: requested lease not found',
    status.NOT_FOUND,
  );
});

test('txn checks: too many operations, nested limit, empty compare key', () => {
  const op = {
    request: 'request_put' as const,
    request_put: {
      key: b('k'),
      value: b('v'),
      lease: '0',
      prev_kv: false,
      ignore_value: false,
      ignore_lease: false,
    },
  };
  rejects(
    () => txnFromWire({ compare: [], success: Array(129).fill(op), failure: [] }, 128),
    'etcdserver: too many operations in txn request',
    status.INVALID_ARGUMENT,
  );
  const nested = {
    request: 'request_txn' as const,
    request_txn: { compare: [], success: Array(100).fill(op), failure: [] },
  };
  rejects(
    () => txnFromWire({ compare: [], success: Array(50).fill(nested), failure: [] }, 128),
    'etcdserver: too many operations in txn request',
    status.INVALID_ARGUMENT,
  );
  rejects(
    () =>
      txnFromWire(
        {
          compare: [{ result: 0, target: 0, key: Buffer.alloc(0), range_end: Buffer.alloc(0) }],
          success: [],
          failure: [],
        },
        128,
      ),
    'etcdserver: key is not provided',
    status.INVALID_ARGUMENT,
  );
});

// ------------------------------------------------------------------ error mapping

test('MicroK8sError codes and state machine messages map to etcd status and message', () => {
  const cases: [MicroK8sError, status, string][] = [
    [
      new MicroK8sError('MK_COMPACTED', ETCD_MESSAGES.compacted),
      status.OUT_OF_RANGE,
      ETCD_MESSAGES.compacted,
    ],
    [new MicroK8sError('MK_FUTURE_REVISION', 'whatever'), status.OUT_OF_RANGE, ETCD_MESSAGES.futureRevision],
    [
      new MicroK8sError('MK_LEASE_NOT_FOUND', 'gone'),
      status.NOT_FOUND,
      'etcdserver: requested lease not found',
    ],
    [new MicroK8sError('MK_NO_LEADER', 'no quorum'), status.UNAVAILABLE, 'etcdserver: no leader'],
    [new MicroK8sError('MK_TIMEOUT', 'slow'), status.UNAVAILABLE, 'etcdserver: request timed out'],
    [
      new MicroK8sError('MK_LEADER_LOST', 'in flight'),
      status.UNAVAILABLE,
      'etcdserver: request timed out, possibly due to previous leader failure',
    ],
    [new MicroK8sError('MK_STOPPED', 'bye'), status.UNAVAILABLE, 'etcdserver: server stopped'],
    [new MicroK8sError('MK_PROPOSAL_DROPPED', 'dropped'), status.UNAVAILABLE, 'etcdserver: leader changed'],
    [
      new MicroK8sError('MK_LIMIT_EXCEEDED', 'etcdserver: too many requests'),
      status.RESOURCE_EXHAUSTED,
      'etcdserver: too many requests',
    ],
    [
      new MicroK8sError('MK_LIMIT_EXCEEDED', 'etcdserver: request is too large'),
      status.INVALID_ARGUMENT,
      'etcdserver: request is too large',
    ],
    [
      new MicroK8sError('MK_INVALID_ARGUMENT', ETCD_MESSAGES.duplicateKey),
      status.INVALID_ARGUMENT,
      ETCD_MESSAGES.duplicateKey,
    ],
    [
      new MicroK8sError('MK_INVALID_ARGUMENT', ETCD_MESSAGES.leaseExists),
      status.FAILED_PRECONDITION,
      ETCD_MESSAGES.leaseExists,
    ],
    [
      new MicroK8sError('MK_INVALID_ARGUMENT', 'malformed command'),
      status.INVALID_ARGUMENT,
      'etcdserver: malformed command',
    ],
    [new MicroK8sError('MK_DATA_CORRUPTION', 'bad page'), status.DATA_LOSS, 'etcdserver: corrupt cluster'],
  ];
  for (const [error, code, message] of cases) {
    const { spec, unexpected } = mapError(error);
    assert.is(spec.code, code, error.code);
    assert.is(spec.message, message, error.code);
    assert.is(unexpected, false);
  }
  const bug = mapError(new TypeError('x is undefined'));
  assert.is(bug.spec.code, status.INTERNAL);
  assert.ok(bug.unexpected);
  assert.is(bug.spec.message.includes('undefined'), false, 'no internals leak');
  assert.equal(
    commandErrorSpec({ code: 'MK_COMPACTED', message: ETCD_MESSAGES.compacted }),
    ETCD_ERRORS.compacted,
  );
  assert.equal(
    commandErrorSpec({ code: 'MK_INVALID_ARGUMENT', message: ETCD_MESSAGES.keyNotFound }),
    ETCD_ERRORS.keyNotFound,
  );
});

// ------------------------------------------------------------------ listener policy

test('plain TCP only on loopback; TLS anywhere', () => {
  for (const host of ['127.0.0.1', '127.3.4.5', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
    assert.ok(isLoopbackHost(host), host);
    checkListenPolicy({ tcp: { host, port: 0 } });
  }
  for (const host of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'example.com', '::ffff:10.0.0.1']) {
    assert.not.ok(isLoopbackHost(host), host);
    try {
      checkListenPolicy({ tcp: { host, port: 2379 } });
      assert.unreachable(host);
    } catch (error) {
      assert.is((error as MicroK8sError).code, 'MK_INVALID_CONFIG', host);
    }
    checkListenPolicy({ tcp: { host, port: 2379, tls: { ca: 'ca', cert: 'cert', key: 'key' } } });
  }
  try {
    checkListenPolicy({});
    assert.unreachable('nothing to listen on');
  } catch (error) {
    assert.is((error as MicroK8sError).code, 'MK_INVALID_CONFIG');
  }
});

test('EtcdServer.listen refuses plain TCP on a non-loopback host without binding', async () => {
  const backend = new LocalBackend();
  const server = new EtcdServer({ backend, logger: quietLogger });
  try {
    await server.listen({ tcp: { host: '0.0.0.0', port: 0 } });
    assert.unreachable('must refuse');
  } catch (error) {
    assert.is((error as MicroK8sError).code, 'MK_INVALID_CONFIG');
    assert.match((error as Error).message, /loopback/);
  } finally {
    await server.stop();
    backend.close();
  }
});

test('limits are validated', () => {
  const backend = new LocalBackend();
  try {
    new EtcdServer({ backend, logger: quietLogger, limits: { maxTxnOps: 0 } });
    assert.unreachable('bad limit');
  } catch (error) {
    assert.is((error as MicroK8sError).code, 'MK_INVALID_CONFIG');
  } finally {
    backend.close();
  }
});

// ------------------------------------------------------------------ :authority rewriting

function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  assert.ok(bytes.length < 127);
  return Buffer.concat([Buffer.of(bytes.length), bytes]);
}

test('header blocks: a refused :authority value becomes "x", everything else stays', () => {
  // Literal with incremental indexing, static name index 1 (:authority).
  const bad = Buffer.concat([Buffer.of(0x41), hpackString('http://127.0.0.1:2379')]);
  assert.equal(rewriteHeaderBlock(bad), Buffer.from([0x41, 0x01, 0x78]));
  // A valid value is left alone.
  assert.is(rewriteHeaderBlock(Buffer.concat([Buffer.of(0x41), hpackString('127.0.0.1:2379')])), undefined);
  // Literal name ":authority" without indexing, around other fields.
  const method = Buffer.of(0x83); // indexed :method POST
  const path = Buffer.concat([Buffer.of(0x04), hpackString('/etcdserverpb.KV/Range')]); // literal w/o indexing, name 4
  const literalName = Buffer.concat([
    Buffer.of(0x00),
    hpackString(':authority'),
    hpackString('/run/etcd.sock'),
  ]);
  const sizeUpdate = Buffer.of(0x3f, 0xe1, 0x1f); // table size update 4096
  const block = Buffer.concat([sizeUpdate, method, path, literalName]);
  const rewritten = rewriteHeaderBlock(block)!;
  assert.equal(
    rewritten,
    Buffer.concat([
      sizeUpdate,
      method,
      path,
      Buffer.of(0x00),
      hpackString(':authority'),
      Buffer.of(0x01, 0x78),
    ]),
  );
  // Huffman-coded values cannot be read here: replaced by the (never longer) "x".
  const huffman = Buffer.of(0x41, 0x83, 0xaa, 0xbb, 0xcc);
  assert.equal(rewriteHeaderBlock(huffman), Buffer.from([0x41, 0x01, 0x78]));
  // Other names with odd values are not touched; a truncated block is handed on as it is.
  assert.is(rewriteHeaderBlock(Buffer.concat([Buffer.of(0x44), hpackString('/a/b')])), undefined);
  assert.is(rewriteHeaderBlock(Buffer.of(0x41, 0x10, 0x61)), undefined);
  // An empty value has no shorter replacement: left for nghttp2 to refuse.
  assert.is(rewriteHeaderBlock(Buffer.of(0x41, 0x00)), undefined);
});

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

test('frames: HEADERS + CONTINUATION fed byte by byte are rewritten, DATA passes intact', () => {
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
  const settings = frame(0x4, 0, 0, Buffer.alloc(6));
  const authority = Buffer.concat([Buffer.of(0x41), hpackString('unix:///var/run/etcd.sock')]);
  const rest = Buffer.concat([Buffer.of(0x83), Buffer.of(0x04), hpackString('/etcdserverpb.KV/Put')]);
  const padded = Buffer.concat([Buffer.of(3), authority.subarray(0, 10), Buffer.alloc(3)]);
  const headers = frame(0x1, 0x8 /* PADDED, no END_HEADERS */, 1, padded);
  const continuation = frame(0x9, 0x4, 1, Buffer.concat([authority.subarray(10), rest]));
  const data = frame(0x0, 0x1, 1, Buffer.from('0123456789'.repeat(50)));
  const input = Buffer.concat([preface, settings, headers, continuation, data]);
  const rewriter = new AuthorityRewriter(1 << 20);
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i++) out.push(...rewriter.feed(input.subarray(i, i + 1)));
  const result = Buffer.concat(out);
  const expectedBlock = Buffer.concat([Buffer.of(0x41, 0x01, 0x78), rest]);
  const expected = Buffer.concat([preface, settings, frame(0x1, 0x4, 1, expectedBlock), data]);
  assert.equal(result, expected);
});

test('frames: a valid block passes byte-identical, an oversized block is a violation', () => {
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
  const headers = frame(0x1, 0x5, 3, Buffer.concat([Buffer.of(0x41), hpackString('127.0.0.1:1')]));
  const input = Buffer.concat([preface, headers]);
  assert.equal(Buffer.concat(new AuthorityRewriter(1 << 20).feed(input)), input);
  const big = frame(0x1, 0x0, 5, Buffer.alloc(20_000));
  try {
    new AuthorityRewriter(16 * 1024).feed(Buffer.concat([preface, big]));
    assert.unreachable('oversized');
  } catch (error) {
    assert.match((error as Error).message, /header block/);
  }
});

/** A raw HTTP/2 gRPC call with a chosen :authority; resolves with grpc-status or the reset code. */
function rawGrpcCall(session: http2.ClientHttp2Session, authority: string): Promise<string> {
  return new Promise((resolve) => {
    const req = session.request({
      ':method': 'POST',
      ':path': '/etcdserverpb.Maintenance/Status',
      ':authority': authority,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let grpcStatus = 'none';
    req.on('trailers', (t) => {
      grpcStatus = String(t['grpc-status']);
    });
    req.on('error', () => {});
    req.on('close', () => resolve(req.rstCode ? `reset ${req.rstCode}` : grpcStatus));
    req.resume();
    req.end(Buffer.from([0, 0, 0, 0, 0]));
  });
}

test('a real HTTP/2 client with scheme, unix path or resolver URL in :authority is served, many times per session', async () => {
  const h = await startHarness();
  const session = http2.connect(`http://${h.address}`);
  session.on('error', () => {});
  try {
    const authorities = [
      `http://${h.address}`,
      'unix:///var/snap/microk8s/current/var/kubernetes/backend/kine.sock',
      '/run/etcd.sock',
      `endpoint://client-c7b1/${h.address}`,
      h.address,
    ];
    // Twice each: the second time HPACK refers to the first one's dynamic table entry.
    for (let round = 0; round < 3; round++) {
      for (const authority of authorities) assert.is(await rawGrpcCall(session, authority), '0', authority);
    }
  } finally {
    session.close();
    await h.close();
  }
});

test.run();
