/**
 * Nanoseconds per operation of the binary codecs on the hot paths (`npm run bench -- codecs`):
 * our protobuf codec against protobufjs as proto-loader drives it (the etcd API's requests and
 * responses), the direct encoders of wire.ts (a page of a list, a watch response), the Raft log's
 * command codec (every write on every replica) and the peer transport's message batches.
 * Each figure is the best of a few rounds: the machine may be shared, and a slower round only
 * means it was busy. Nothing is asserted: the codec tests check the bytes.
 */
import * as protoLoader from '@grpc/proto-loader';
import { LOADER_OPTIONS, protoDir } from '../src/datastore/etcd/proto.js';
import { etcdServiceDefinitions } from '../src/datastore/etcd/protobuf/service.js';
import { encodeRangeResponse, encodeWatchEvents } from '../src/datastore/etcd/wire.js';
import { EntryType, type Message, MessageType } from '../src/datastore/raft/types.js';
import { decodeCommand, encodeCommand } from '../src/datastore/state/codec.js';
import type { Command, KeyValue } from '../src/datastore/state/types.js';
import { decodeBatch, encodeBatch } from '../src/datastore/transport/codec.js';

const ROUNDS = 5;

export interface CodecRow {
  readonly what: string;
  readonly nsPerOp: number;
  /** The same operation through protobufjs, where there is one to compare with. */
  readonly protobufjsNsPerOp?: number;
}

function nsPerOp(run: () => unknown, iterations: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < iterations / 10; i++) run();
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) run();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / iterations);
  }
  return best;
}

const KEY = Buffer.from('/registry/configmaps/kube-system/extension-apiserver-authentication');
const HEADER = {
  clusterId: 14841639068965178418n,
  memberId: 10276657743932975437n,
  revision: 123457,
  raftTerm: 4,
};

function keyValue(i: number, valueBytes: number): KeyValue {
  return {
    key: Buffer.from(`/registry/pods/default/pod-${i}`),
    value: new Uint8Array(valueBytes).fill(0x61),
    createRevision: 100_000 + i,
    modRevision: 120_000 + i,
    version: 3,
    lease: 0,
  };
}

/** Our protobuf codec and protobufjs on the same bytes and objects. */
function protobufRows(iterations: number): CodecRow[] {
  const dir = protoDir();
  const def = protoLoader.loadSync(['rpc.proto', 'health.proto'], { ...LOADER_OPTIONS, includeDirs: [dir] });
  const kv = def['etcdserverpb.KV'] as Record<string, protoLoader.MethodDefinition<object, object>>;
  const ours = etcdServiceDefinitions(dir).KV;
  const putBytes = kv.Put!.requestSerialize({
    key: KEY,
    value: Buffer.alloc(600, 7),
    lease: 7587862140383529000,
  });
  const txnBytes = kv.Txn!.requestSerialize({
    compare: [{ key: KEY, target: 2, result: 0, mod_revision: 123456 }],
    success: [{ request_put: { key: KEY, value: Buffer.alloc(600, 7), lease: 0 } }],
    failure: [{ request_range: { key: KEY } }],
  });
  const putResponse = {
    header: {
      cluster_id: '14841639068965178418',
      member_id: '10276657743932975437',
      revision: 123457,
      raft_term: 4,
    },
    prev_kv: null,
  };
  const pairs: [string, () => unknown, () => unknown][] = [
    [
      'protobuf PutRequest decode',
      () => ours.Put!.requestDeserialize(putBytes),
      () => kv.Put!.requestDeserialize(putBytes),
    ],
    [
      'protobuf TxnRequest decode',
      () => ours.Txn!.requestDeserialize(txnBytes),
      () => kv.Txn!.requestDeserialize(txnBytes),
    ],
    [
      'protobuf PutResponse encode',
      () => ours.Put!.responseSerialize(putResponse),
      () => kv.Put!.responseSerialize(putResponse),
    ],
  ];
  return pairs.map(([what, mine, theirs]) => ({
    what,
    nsPerOp: nsPerOp(mine, iterations),
    protobufjsNsPerOp: nsPerOp(theirs, iterations),
  }));
}

function wireRows(iterations: number): CodecRow[] {
  const page = {
    kvs: Array.from({ length: 100 }, (_, i) => keyValue(i, 256)),
    more: true,
    count: 5000,
    revision: 123457,
  };
  const events = Array.from({ length: 4 }, (_, i) => ({
    type: 'put' as const,
    kv: keyValue(i, 256),
    prevKv: keyValue(i, 256),
  }));
  return [
    {
      what: 'wire RangeResponse encode (100 kvs)',
      nsPerOp: nsPerOp(() => encodeRangeResponse(HEADER, page), iterations / 20),
    },
    {
      what: 'wire WatchResponse encode (4 events + prev)',
      nsPerOp: nsPerOp(() => encodeWatchEvents(HEADER, 123457, '7', events, true, false), iterations),
    },
  ];
}

function commandRows(iterations: number): CodecRow[] {
  const put: Command = {
    type: 'put',
    request: { key: KEY, value: new Uint8Array(256).fill(0x61), lease: 7587862140383 },
  };
  const txn: Command = {
    type: 'txn',
    request: {
      compare: [{ key: KEY, target: 'mod', result: 'equal', operand: 123456 }],
      success: [{ put: { key: KEY, value: new Uint8Array(600).fill(7) } }],
      failure: [{ range: { key: KEY } }],
    },
  };
  const putBytes = encodeCommand(put);
  const txnBytes = encodeCommand(txn);
  return [
    { what: 'command put encode (256 B value)', nsPerOp: nsPerOp(() => encodeCommand(put), iterations) },
    { what: 'command put decode', nsPerOp: nsPerOp(() => decodeCommand(putBytes), iterations) },
    { what: 'command txn encode', nsPerOp: nsPerOp(() => encodeCommand(txn), iterations) },
    { what: 'command txn decode', nsPerOp: nsPerOp(() => decodeCommand(txnBytes), iterations) },
  ];
}

function transportRows(iterations: number): CodecRow[] {
  const batch: Message[] = Array.from({ length: 64 }, (_, i) => ({
    type: MessageType.App,
    from: 1,
    to: 2,
    term: 7,
    logTerm: 7,
    index: 1_000_000 + i,
    commit: 999_999 + i,
    entries: [{ term: 7, index: 1_000_001 + i, type: EntryType.Normal, data: new Uint8Array(100).fill(1) }],
  }));
  const bytes = encodeBatch(batch);
  return [
    {
      what: 'transport batch encode (64 appends)',
      nsPerOp: nsPerOp(() => encodeBatch(batch), iterations / 20),
    },
    {
      what: 'transport batch decode (64 appends)',
      nsPerOp: nsPerOp(() => decodeBatch(bytes), iterations / 20),
    },
  ];
}

export function runCodecBench(options: { iterations: number }): CodecRow[] {
  return [
    ...protobufRows(options.iterations),
    ...wireRows(options.iterations),
    ...commandRows(options.iterations),
    ...transportRows(options.iterations),
  ];
}
