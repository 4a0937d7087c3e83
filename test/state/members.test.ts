// The replicated member table: placement facts for the roles planner. Applying them changes no
// key, no revision and no watch stream; they survive a snapshot and a restart.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeCommand } from '../../src/datastore/state/codec.js';
import { KvStateMachine } from '../../src/datastore/state/kv-store.js';
import { Harness, quietLogger } from './helpers.js';

const NO_ADDRESS = { peerAddress: '', clientUrl: '', removal: 'no' } as const;

test('memberSet upserts a member and touches no revision', () => {
  const h = new Harness();
  h.put('a', '1');
  const revision = h.sm.revision();
  h.ok({ type: 'memberSet', id: 2, failureDomain: 'dc1', weight: 5, draining: false, ...NO_ADDRESS });
  h.ok({ type: 'memberSet', id: 1, failureDomain: 'dc2', weight: 0, draining: false, ...NO_ADDRESS });
  h.ok({ type: 'memberSet', id: 2, failureDomain: 'dc3', weight: 7, draining: true, ...NO_ADDRESS });
  assert.is(h.sm.revision(), revision);
  assert.equal(h.sm.members(), [
    { id: 1, failureDomain: 'dc2', weight: 0, draining: false, ...NO_ADDRESS },
    { id: 2, failureDomain: 'dc3', weight: 7, draining: true, ...NO_ADDRESS },
  ]);
});

test('memberRemove deletes the row (a no-op for an unknown member)', () => {
  const h = new Harness();
  h.ok({
    type: 'memberSet',
    id: 2,
    failureDomain: 'dc1',
    weight: 5,
    draining: false,
    peerAddress: '10.0.0.2:2380',
    clientUrl: '',
    removal: 'force',
  });
  h.ok({ type: 'memberRemove', id: 2 });
  h.ok({ type: 'memberRemove', id: 9 });
  assert.equal(h.sm.members(), []);
});

test('memberAdd records a new member and refuses a recorded id (two agents, one id)', () => {
  const h = new Harness();
  h.ok({ type: 'memberAdd', id: 5, failureDomain: 'dc1', weight: 0, draining: false, ...NO_ADDRESS });
  const refused = h.fail({
    type: 'memberAdd',
    id: 5,
    failureDomain: 'dc2',
    weight: 0,
    draining: false,
    ...NO_ADDRESS,
  });
  assert.is(refused.code, 'MK_MEMBER_ID_TAKEN');
  assert.equal(h.sm.members(), [{ id: 5, failureDomain: 'dc1', weight: 0, draining: false, ...NO_ADDRESS }]);
});

test('members travel in a snapshot', () => {
  const h = new Harness();
  h.ok({ type: 'memberSet', id: 4, failureDomain: 'z', weight: 1, draining: false, ...NO_ADDRESS });
  const copy = KvStateMachine.open(':memory:', { logger: quietLogger });
  copy.restore(h.sm.snapshot());
  assert.equal(copy.members(), [{ id: 4, failureDomain: 'z', weight: 1, draining: false, ...NO_ADDRESS }]);
});

test('a malformed memberSet is refused with MK_INVALID_ARGUMENT', () => {
  // version 1, tag 9, id 1, domain of 2 bytes that are not UTF-8, weight 0, draining 0
  const badUtf8 = new Uint8Array([1, 9, 1, 2, 0xff, 0xfe, 0, 0, 0, 0]);
  assert.throws(() => decodeCommand(badUtf8), /not UTF-8/);
  const badFlag = new Uint8Array([1, 9, 1, 1, 0x61, 0, 2, 0, 0]);
  assert.throws(() => decodeCommand(badFlag), /draining/);
});

test.run();
