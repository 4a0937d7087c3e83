import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeCommand, encodeCommand } from '../../src/datastore/state/codec.js';
import type { Command, TxnRequest } from '../../src/datastore/state/types.js';
import { SeededRandom } from '../../src/lib/random.js';
import { b, throwsCode, ZERO } from './helpers.js';

const BINARY_KEY = new Uint8Array([0x00, 0xff, 0x00, 0x7f, 0x80, 0xff]);
const BIG_VALUE = new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff);

const nested: TxnRequest = {
  compare: [{ key: b('n'), target: 'value', result: 'not_equal', operand: new Uint8Array(0) }],
  success: [{ deleteRange: { key: b('a'), rangeEnd: ZERO, prevKv: true } }],
  failure: [{ txn: { compare: [], success: [{ range: { key: b('z') } }], failure: [] } }],
};

const COMMANDS: Command[] = [
  { type: 'put', request: { key: b('k'), value: b('v') } },
  { type: 'put', request: { key: BINARY_KEY, value: new Uint8Array(0) } },
  { type: 'put', request: { key: b('k'), value: BIG_VALUE, lease: 2 ** 53 - 1, prevKv: true } },
  { type: 'put', request: { key: b('k'), value: new Uint8Array(0), ignoreValue: true, ignoreLease: true } },
  { type: 'deleteRange', request: { key: b('a') } },
  { type: 'deleteRange', request: { key: BINARY_KEY, rangeEnd: new Uint8Array([0xff, 0xff]), prevKv: true } },
  { type: 'deleteRange', request: { key: ZERO, rangeEnd: ZERO } },
  { type: 'compact', revision: 1 },
  { type: 'compact', revision: 2 ** 53 - 1 },
  { type: 'leaseGrant', id: 7, ttl: 60 },
  { type: 'leaseGrant', id: 2 ** 53 - 1, ttl: 0 },
  { type: 'leaseRevoke', id: 1 },
  { type: 'leaseExpire', id: 123456789012 },
  { type: 'leaseKeepAlive', id: 5 },
  {
    type: 'memberSet',
    id: 3,
    failureDomain: 'dc-2',
    weight: 10,
    draining: true,
    peerAddress: '10.0.0.3:2380',
    clientUrl: 'https://10.0.0.3:2379',
    removal: 'if-offline',
  },
  { type: 'memberRemove', id: 7 },
  {
    type: 'memberAdd',
    id: 8,
    failureDomain: 'z',
    weight: 1,
    draining: false,
    peerAddress: '[::1]:2380',
    clientUrl: '',
    removal: 'no',
  },
  {
    type: 'memberSet',
    id: 1,
    failureDomain: 'zone-ü',
    weight: 0,
    draining: false,
    peerAddress: '',
    clientUrl: '',
    removal: 'no',
  },
  { type: 'txn', request: { compare: [], success: [], failure: [] } },
  {
    type: 'txn',
    request: {
      compare: [
        { key: b('/registry/pods/a'), target: 'mod', result: 'equal', operand: 0 },
        { key: b('a'), rangeEnd: b('b'), target: 'version', result: 'greater', operand: -5 },
        { key: b('c'), target: 'create', result: 'less', operand: 2 ** 52 - 1 },
        { key: b('d'), target: 'lease', result: 'not_equal', operand: -(2 ** 52 - 1) },
        { key: BINARY_KEY, target: 'value', result: 'equal', operand: BINARY_KEY },
      ],
      success: [
        { put: { key: b('/registry/pods/a'), value: b('{"kind":"Pod"}'), lease: 9 } },
        {
          range: {
            key: b('a'),
            rangeEnd: ZERO,
            limit: 500,
            revision: 42,
            sortOrder: 'descend',
            sortTarget: 'value',
            keysOnly: true,
            countOnly: true,
            minModRevision: 1,
            maxModRevision: 2,
            minCreateRevision: 3,
            maxCreateRevision: 4,
          },
        },
        { txn: nested },
      ],
      failure: [
        { range: { key: b('/registry/pods/a') } },
        { range: { key: b('x'), limit: -1, sortOrder: 'ascend' } },
        {
          txn: { compare: [], success: [{ txn: nested }], failure: [{ put: { key: b('q'), value: b('') } }] },
        },
      ],
    },
  },
];

test('every command shape round-trips', () => {
  for (const cmd of COMMANDS) {
    const data = encodeCommand(cmd);
    assert.ok(data instanceof Uint8Array);
    assert.is(data[0], 1, 'version byte');
    assert.equal(decodeCommand(data), cmd, cmd.type);
    assert.equal(encodeCommand(decodeCommand(data)), data, 'canonical');
  }
});

test('defaults are not encoded and decode as absent', () => {
  const withDefaults: Command = {
    type: 'txn',
    request: {
      compare: [],
      success: [
        {
          range: {
            key: b('k'),
            rangeEnd: new Uint8Array(0),
            limit: 0,
            revision: 0,
            sortOrder: 'none',
            sortTarget: 'key',
            keysOnly: false,
          },
        },
        { put: { key: b('k'), value: b('v'), lease: 0, prevKv: false } },
        { deleteRange: { key: b('k'), rangeEnd: new Uint8Array(0) } },
      ],
      failure: [],
    },
  };
  assert.equal(decodeCommand(encodeCommand(withDefaults)), {
    type: 'txn',
    request: {
      compare: [],
      success: [
        { range: { key: b('k') } },
        { put: { key: b('k'), value: b('v') } },
        { deleteRange: { key: b('k') } },
      ],
      failure: [],
    },
  });
  // A put of a short key and value is a handful of bytes.
  assert.is(encodeCommand({ type: 'put', request: { key: b('k'), value: b('v') } }).byteLength, 7);
});

test('decoded bytes are plain copies, not views of the entry (also from a Buffer)', () => {
  const encoded = encodeCommand({ type: 'put', request: { key: b('key'), value: b('value') } });
  for (const data of [encoded, Buffer.from(encoded)]) {
    const cmd = decodeCommand(data) as Extract<Command, { type: 'put' }>;
    data.fill(0);
    assert.equal(cmd.request.key, b('key'));
    assert.equal(cmd.request.value, b('value'));
    assert.is(cmd.request.key.constructor, Uint8Array);
  }
});

test('unrepresentable values are MK_INVALID_ARGUMENT at encode', () => {
  throwsCode(() => encodeCommand({ type: 'compact', revision: -1 }), 'MK_INVALID_ARGUMENT');
  throwsCode(() => encodeCommand({ type: 'compact', revision: 1.5 }), 'MK_INVALID_ARGUMENT');
  throwsCode(() => encodeCommand({ type: 'leaseGrant', id: 2 ** 53, ttl: 1 }), 'MK_INVALID_ARGUMENT');
  throwsCode(
    () =>
      encodeCommand({
        type: 'txn',
        request: {
          compare: [{ key: b('k'), target: 'mod', result: 'equal', operand: 2 ** 52 }],
          success: [],
          failure: [],
        },
      }),
    'MK_INVALID_ARGUMENT',
  );
  throwsCode(
    () =>
      encodeCommand({
        type: 'txn',
        request: {
          compare: [{ key: b('k'), target: 'value', result: 'equal', operand: 1 }],
          success: [],
          failure: [],
        },
      }),
    'MK_INVALID_ARGUMENT',
  );
  throwsCode(
    () =>
      encodeCommand({
        type: 'txn',
        request: {
          compare: [{ key: b('k'), target: 'mod', result: 'equal', operand: b('x') }],
          success: [],
          failure: [],
        },
      }),
    'MK_INVALID_ARGUMENT',
  );
  let deep: TxnRequest = { compare: [], success: [], failure: [] };
  for (let i = 0; i < 40; i++) deep = { compare: [], success: [{ txn: deep }], failure: [] };
  throwsCode(() => encodeCommand({ type: 'txn', request: deep }), 'MK_INVALID_ARGUMENT');
  throwsCode(() => encodeCommand({ type: 'nope' } as unknown as Command), 'MK_INVALID_ARGUMENT');
});

test('every truncation of every command is MK_INVALID_ARGUMENT', () => {
  for (const cmd of COMMANDS) {
    const data = encodeCommand(cmd);
    if (data.byteLength > 2000) continue;
    for (let n = 0; n < data.byteLength; n++) {
      throwsCode(() => decodeCommand(data.subarray(0, n)), 'MK_INVALID_ARGUMENT');
    }
    const extended = new Uint8Array(data.byteLength + 1);
    extended.set(data);
    throwsCode(() => decodeCommand(extended), 'MK_INVALID_ARGUMENT');
  }
});

test('garbage is MK_INVALID_ARGUMENT, never a crash or a partial command', () => {
  throwsCode(
    () => decodeCommand(new Uint8Array([2, 1])),
    'MK_INVALID_ARGUMENT',
    'unsupported command encoding version 2 (this node reads 1)',
  );
  throwsCode(() => decodeCommand(new Uint8Array([1, 99])), 'MK_INVALID_ARGUMENT');
  // A length far beyond the input.
  throwsCode(() => decodeCommand(new Uint8Array([1, 1, 0, 0xff, 0xff, 0xff, 0x7f])), 'MK_INVALID_ARGUMENT');
  // A varint that never ends, and one above 2^53.
  throwsCode(
    () => decodeCommand(new Uint8Array([1, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])),
    'MK_INVALID_ARGUMENT',
  );
  throwsCode(
    () => decodeCommand(new Uint8Array([1, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])),
    'MK_INVALID_ARGUMENT',
  );
  // A txn claiming a billion compares in a few bytes.
  throwsCode(
    () => decodeCommand(new Uint8Array([1, 3, 0x80, 0x94, 0xeb, 0xdc, 0x03])),
    'MK_INVALID_ARGUMENT',
  );
  // Unknown flag bits.
  throwsCode(() => decodeCommand(new Uint8Array([1, 1, 0x10, 1, 0x6b, 0])), 'MK_INVALID_ARGUMENT');
  // Nesting beyond the limit, built by hand: txn := 0 compares, 1 success op (txn), 0 failure ops.
  const deep = [1, 3];
  for (let i = 0; i < 40; i++) deep.push(0, 1, 4);
  deep.push(0, 0, 0);
  for (let i = 0; i < 40; i++) deep.push(0);
  throwsCode(() => decodeCommand(new Uint8Array(deep)), 'MK_INVALID_ARGUMENT');
  throwsCode(() => decodeCommand('nope' as unknown as Uint8Array), 'MK_INVALID_ARGUMENT');

  const random = new SeededRandom(7);
  for (let i = 0; i < 20_000; i++) {
    const data = new Uint8Array(1 + random.int(40)).map(() => random.int(256));
    if (random.chance(0.8)) data[0] = 1;
    if (random.chance(0.8) && data.byteLength > 1) data[1] = 1 + random.int(8);
    try {
      const cmd = decodeCommand(data);
      // Whatever decodes must be a whole command that encodes back to the same bytes or fewer.
      assert.ok(encodeCommand(cmd).byteLength <= data.byteLength);
    } catch (error) {
      assert.is((error as { code?: string }).code, 'MK_INVALID_ARGUMENT', String(error));
    }
  }
  // Random mutations of valid commands.
  for (const cmd of COMMANDS) {
    const data = encodeCommand(cmd);
    for (let i = 0; i < 300; i++) {
      const copy = data.slice();
      copy[random.int(copy.byteLength)] = random.int(256);
      try {
        decodeCommand(copy);
      } catch (error) {
        assert.is((error as { code?: string }).code, 'MK_INVALID_ARGUMENT', String(error));
      }
    }
  }
});

test.run();
