import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Entry, type Message, MessageType } from '../../src/datastore/raft/types.js';
import { frameReader } from '../../src/datastore/transport/bad-frame.js';
import {
  decodeBatch,
  decodeMessage,
  encodeBatch,
  encodeMessage,
} from '../../src/datastore/transport/codec.js';
import {
  buildBatchFrame,
  decodeHello,
  encodeHelloFrame,
  FrameKind,
  FrameReader,
} from '../../src/datastore/transport/frames.js';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { SeededRandom } from '../../src/lib/random.js';

const MAX = Number.MAX_SAFE_INTEGER;

function bytes(length: number, seed: number): Uint8Array {
  const rng = new SeededRandom(seed);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = rng.int(256);
  return out;
}

const entries: Entry[] = [
  { term: 7, index: 100, type: 0, data: bytes(100, 1) },
  { term: 7, index: 101, type: 1, data: new Uint8Array([0, 255, 128, 0]) },
  { term: 8, index: 102, type: 0, data: new Uint8Array(0) },
  { term: MAX, index: MAX, type: 0, data: bytes(70_000, 2) },
];

/** Every field at once, with edge values. */
const everything: Message = {
  type: MessageType.Snap,
  from: 1,
  to: MAX,
  term: 2 ** 40 + 3,
  logTerm: 127,
  index: 128,
  entries,
  commit: 2 ** 32,
  reject: true,
  rejectHint: 2 ** 31 - 1,
  snapshot: {
    index: 99,
    term: 6,
    conf: {
      members: [
        { id: 1, role: 'voter' },
        { id: 2, role: 'standby' },
        { id: 3, role: 'spare' },
        { id: MAX, role: 'voter' },
      ],
    },
  },
  chunk: bytes(4096, 3),
  offset: 2 ** 45,
  totalBytes: 2 ** 46 + 1,
  readSeq: 0,
  context: MAX,
  transfer: false,
  target: 3,
};

/** One typical message of every type (what the Raft core actually sends). */
const typical: Message[] = [
  {
    type: MessageType.App,
    from: 1,
    to: 2,
    term: 5,
    logTerm: 4,
    index: 10,
    entries: entries.slice(0, 3),
    commit: 9,
  },
  { type: MessageType.AppResp, from: 2, to: 1, term: 5, index: 12 },
  { type: MessageType.AppResp, from: 2, to: 1, term: 5, index: 12, reject: true, rejectHint: 8 },
  { type: MessageType.Vote, from: 3, to: 1, term: 6, logTerm: 5, index: 12, transfer: true },
  { type: MessageType.VoteResp, from: 1, to: 3, term: 6, reject: false },
  { type: MessageType.PreVote, from: 3, to: 2, term: 7, logTerm: 5, index: 12 },
  { type: MessageType.PreVoteResp, from: 2, to: 3, term: 7, reject: true },
  { type: MessageType.Heartbeat, from: 1, to: 2, term: 5, commit: 12, readSeq: 44 },
  { type: MessageType.HeartbeatResp, from: 2, to: 1, term: 5, readSeq: 44 },
  {
    type: MessageType.Snap,
    from: 1,
    to: 3,
    term: 5,
    snapshot: { index: 1000, term: 4, conf: { members: [{ id: 1, role: 'voter' }] } },
    chunk: bytes(512, 4),
    offset: 512,
    totalBytes: 2048,
  },
  { type: MessageType.SnapResp, from: 3, to: 1, term: 5, offset: 1024 },
  { type: MessageType.SnapResp, from: 3, to: 1, term: 5, offset: 0, reject: true },
  { type: MessageType.Prop, from: 2, to: 1, term: 0, entries: [entries[0]!] },
  { type: MessageType.ReadIndex, from: 2, to: 1, term: 0, context: 2 ** 52 + 17 },
  { type: MessageType.ReadIndexResp, from: 1, to: 2, term: 5, index: 12, context: 2 ** 52 + 17 },
  { type: MessageType.ReadIndexResp, from: 1, to: 2, term: 5, context: 9, reject: true },
  { type: MessageType.TransferLeader, from: 2, to: 1, term: 0, target: 3 },
  { type: MessageType.TimeoutNow, from: 1, to: 3, term: 5 },
];

test('every message type round-trips exactly', () => {
  const seen = new Set<number>();
  for (const message of typical) {
    seen.add(message.type);
    assert.equal(decodeMessage(encodeMessage(message)), message, `type ${message.type}`);
  }
  assert.is(seen.size, 15, 'all fifteen types are covered');
});

test('a message with every field set round-trips, for every type', () => {
  for (let type = 1; type <= 15; type++) {
    const message = { ...everything, type } as Message;
    const decoded = decodeMessage(encodeMessage(message));
    assert.equal(decoded, message);
    assert.ok(decoded.entries![3]!.data instanceof Uint8Array);
  }
  const flipped: Message = { ...everything, reject: false, transfer: true };
  assert.equal(decodeMessage(encodeMessage(flipped)), flipped);
});

test('absent fields stay absent and the encoding is compact', () => {
  const hb: Message = { type: MessageType.Heartbeat, from: 1, to: 2, term: 5, commit: 12, readSeq: 44 };
  const encoded = encodeMessage(hb);
  assert.is(encoded.length, 8, 'type + mask + four one-byte varints + two one-byte varints');
  const decoded = decodeMessage(encoded);
  assert.equal(Object.keys(decoded).sort(), ['commit', 'from', 'readSeq', 'term', 'to', 'type']);
});

test('batches round-trip, including empty and mixed ones', () => {
  assert.equal(decodeBatch(encodeBatch([])), []);
  assert.equal(decodeBatch(encodeBatch(typical)), typical);
  const payload = encodeBatch(typical);
  const frame = buildBatchFrame(
    typical.map((m) => encodeMessage(m)),
    typical.reduce((sum, m) => sum + encodeMessage(m).length, 0),
  );
  assert.is(frame.readUInt32BE(0), frame.length - 4);
  assert.is(frame[4], FrameKind.Batch);
  assert.ok(Buffer.from(payload).equals(frame.subarray(5)), 'frame body is the codec batch');
});

test('decoded data are copies, not views of the frame', () => {
  const encoded = encodeMessage(typical[0]!);
  const decoded = decodeMessage(encoded);
  encoded.fill(0);
  assert.equal(decoded, typical[0]);
  assert.is(decoded.entries![0]!.data.buffer.byteLength, 100, 'an own, exactly sized buffer');
});

function expectBadFrame(buf: Uint8Array, what: string): void {
  try {
    const result = decodeMessage(buf);
    assert.unreachable(`${what}: decoded ${JSON.stringify(result)}`);
  } catch (error) {
    assert.ok(isMicroK8sError(error, 'MK_BAD_FRAME'), `${what}: ${String(error)}`);
  }
}

test('every truncation of a valid message is MK_BAD_FRAME, never a partial message', () => {
  for (const message of [...typical, everything]) {
    const encoded = encodeMessage(message);
    // Every cut of small messages; a sample of cuts of the 70 kB one.
    const step = encoded.length > 10_000 ? 997 : 1;
    for (let cut = 0; cut < encoded.length; cut += step)
      expectBadFrame(encoded.subarray(0, cut), `cut ${cut}`);
    const longer = new Uint8Array(encoded.length + 1);
    longer.set(encoded);
    expectBadFrame(longer, 'trailing byte');
  }
});

test('invalid enums, ids, lengths and varints are refused', () => {
  const hb = encodeMessage({ type: MessageType.Heartbeat, from: 1, to: 2, term: 5 });
  const mutate = (fn: (b: Uint8Array) => void): Uint8Array => {
    const copy = hb.slice();
    fn(copy);
    return copy;
  };
  expectBadFrame(
    mutate((b) => (b[0] = 0)),
    'type 0',
  );
  expectBadFrame(
    mutate((b) => (b[0] = 16)),
    'type 16',
  );
  expectBadFrame(
    mutate((b) => (b[3] = 0)),
    'from 0',
  );
  expectBadFrame(
    mutate((b) => (b[2] = 0x40)),
    'reject value without presence',
  );
  expectBadFrame(new Uint8Array([7, 0, 0, 0x81, 0x00, 2, 5]), 'non-canonical varint');
  expectBadFrame(
    new Uint8Array([7, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10, 2, 5]),
    'over 2^53',
  );
  expectBadFrame(
    new Uint8Array([7, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
    'nine bytes',
  );
  // App with 1000 entries announced in a few bytes: refused before allocating.
  expectBadFrame(new Uint8Array([1, 0, 4, 1, 2, 5, 0xe8, 0x07, 1, 1, 0]), 'entry count beyond the frame');
  // An entry with type 2.
  expectBadFrame(new Uint8Array([1, 0, 4, 1, 2, 5, 1, 1, 1, 2, 0]), 'entry type 2');
  // A snapshot member with role 3.
  expectBadFrame(new Uint8Array([9, 0, 0x40, 1, 2, 5, 1, 1, 1, 1, 3]), 'role 3');
  // A chunk longer than the input.
  expectBadFrame(new Uint8Array([9, 0, 0x80, 1, 2, 5, 0x10, 1, 2]), 'chunk past the end');
  try {
    decodeBatch(new Uint8Array([0xff, 0xff, 0x03, 7, 0, 0, 1, 2, 5]));
    assert.unreachable('batch count beyond the frame');
  } catch (error) {
    assert.ok(isMicroK8sError(error, 'MK_BAD_FRAME'));
  }
});

test('a seeded fuzz of random and mutated inputs only ever throws MK_BAD_FRAME', () => {
  const rng = new SeededRandom(20240611);
  const seeds = [...typical.map((m) => encodeMessage(m)), encodeBatch(typical.slice(0, 5))];
  let decoded = 0;
  let refused = 0;
  const ITERATIONS = 5000;
  for (let i = 0; i < ITERATIONS; i++) {
    let input: Uint8Array;
    if (i % 2 === 0) {
      input = new Uint8Array(rng.int(64));
      for (let j = 0; j < input.length; j++) input[j] = rng.int(256);
    } else {
      // Mutations of valid encodings reach much deeper into the decoder than pure noise.
      input = rng.pick(seeds).slice();
      const flips = 1 + rng.int(4);
      for (let f = 0; f < flips && input.length > 0; f++) input[rng.int(input.length)] = rng.int(256);
      if (rng.chance(0.3)) input = input.subarray(0, rng.int(input.length + 1));
    }
    for (const decode of [decodeMessage, decodeBatch] as ((b: Uint8Array) => unknown)[]) {
      try {
        decode(input);
        decoded++;
      } catch (error) {
        if (!isMicroK8sError(error, 'MK_BAD_FRAME')) {
          throw new Error(
            `iteration ${i}: unexpected ${String(error)} for ${Buffer.from(input).toString('hex')}`,
          );
        }
        refused++;
      }
    }
  }
  assert.is(decoded + refused, ITERATIONS * 2);
  assert.ok(refused > ITERATIONS, 'most garbage is refused');
});

test('a decoded-then-re-encoded fuzz survivor is stable', () => {
  // Whatever the decoder accepts must be a valid message the encoder reproduces bit for bit.
  const rng = new SeededRandom(7);
  const base = encodeMessage(typical[0]!);
  let checked = 0;
  for (let i = 0; i < 2000; i++) {
    const input = base.slice();
    input[5 + rng.int(input.length - 5)] = rng.int(256);
    let message: Message;
    try {
      message = decodeMessage(input);
    } catch {
      continue;
    }
    assert.equal(encodeMessage(message), input);
    checked++;
  }
  assert.ok(checked > 100, `enough survivors (${checked})`);
});

test('frame reader: splits, reassembles across chunks, and refuses bad lengths', () => {
  const frames = [encodeHelloFrame({ version: 1, clusterId: 'c', nodeId: 3 })];
  for (let i = 0; i < 5; i++) {
    const parts = [encodeMessage(typical[i]!)];
    frames.push(buildBatchFrame(parts, parts[0]!.length));
  }
  const stream = Buffer.concat(frames);
  for (const chunkSize of [1, 3, 7, 64, stream.length]) {
    const reader = new FrameReader(1 << 20);
    const out: Buffer[] = [];
    for (let at = 0; at < stream.length; at += chunkSize) {
      reader.push(stream.subarray(at, at + chunkSize));
      for (let frame = reader.next(); frame; frame = reader.next()) out.push(Buffer.from(frame));
    }
    assert.is(out.length, frames.length, `chunk size ${chunkSize}`);
    for (let i = 0; i < frames.length; i++) assert.ok(out[i]!.equals(frames[i]!.subarray(4)));
    assert.is(reader.bufferedBytes, 0);
  }
  const hello = frameReader(frames[0]!.subarray(5));
  assert.equal(decodeHello(hello), { version: 1, clusterId: 'c', nodeId: 3 });

  const oversized = new FrameReader(1000);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(1001);
  oversized.push(header);
  assert.throws(
    () => oversized.next(),
    (e: unknown) => isMicroK8sError(e, 'MK_BAD_FRAME'),
  );
  const empty = new FrameReader(1000);
  empty.push(Buffer.alloc(4));
  assert.throws(
    () => empty.next(),
    (e: unknown) => isMicroK8sError(e, 'MK_BAD_FRAME'),
  );
});

test('hello decoding refuses bad cluster ids and node ids', () => {
  const cases = [
    Buffer.from([1, 0, 1]), // empty cluster id
    Buffer.from([1, 1, 0xff, 1]), // invalid UTF-8
    Buffer.from([1, 1, 0x61, 0]), // node 0
    Buffer.from([1, 1, 0x61, 1, 9]), // trailing byte
    Buffer.from([1, 0x81, 0x01]), // 129-byte cluster id
  ];
  for (const body of cases) {
    assert.throws(
      () => decodeHello(frameReader(body)),
      (e: unknown) => isMicroK8sError(e, 'MK_BAD_FRAME'),
      body.toString('hex'),
    );
  }
});

test('the encoder refuses invalid messages as programmer errors', () => {
  const bad: Message[] = [
    { type: 16 as MessageType, from: 1, to: 2, term: 1 },
    { type: MessageType.App, from: 0, to: 2, term: 1 },
    { type: MessageType.App, from: 1, to: 2, term: -1 },
    { type: MessageType.App, from: 1, to: 2, term: 1.5 },
    { type: MessageType.App, from: 1, to: 2, term: 2 ** 53 },
    { type: MessageType.ReadIndex, from: 1, to: 2, term: 0, context: -1 },
  ];
  for (const message of bad) {
    assert.throws(
      () => encodeMessage(message),
      (e: unknown) => (e as { code?: string }).code === 'MK_ASSERTION',
      JSON.stringify(message),
    );
  }
});

test('hello: the announced listen address round-trips; a bad one is MK_BAD_FRAME', () => {
  const frame = encodeHelloFrame({
    version: 1,
    clusterId: 'c',
    nodeId: 3,
    address: { host: '10.1.2.3', port: 2380 },
  });
  assert.equal(decodeHello(frameReader(frame.subarray(5))), {
    version: 1,
    clusterId: 'c',
    nodeId: 3,
    address: { host: '10.1.2.3', port: 2380 },
  });
  const bad = encodeHelloFrame({
    version: 1,
    clusterId: 'c',
    nodeId: 3,
    address: { host: 'not-an-ip', port: 2380 },
  });
  assert.throws(
    () => decodeHello(frameReader(bad.subarray(5))),
    (e: unknown) => isMicroK8sError(e, 'MK_BAD_FRAME'),
  );
  const zeroPort = encodeHelloFrame({
    version: 1,
    clusterId: 'c',
    nodeId: 3,
    address: { host: '::1', port: 0 },
  });
  assert.throws(
    () => decodeHello(frameReader(zeroPort.subarray(5))),
    (e: unknown) => isMicroK8sError(e, 'MK_BAD_FRAME'),
  );
});

test.run();
