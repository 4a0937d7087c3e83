/** The voter pre-refresh hands leadership to (pure): another online voter, the most of the log first. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NodeStatusReport } from '../../src/datastore/node/driver.js';
import { transferTarget } from '../../src/lifecycle/refresh-drain.js';

type Member = NodeStatusReport['members'][number];
const member = (id: number, over: Partial<Member> = {}): Member => ({
  id,
  role: 'voter',
  failureDomain: 'default',
  weight: 0,
  draining: false,
  removal: 'no',
  match: 100,
  online: true,
  ...over,
});
const report = (members: Member[]) => ({ id: 1, members }) as NodeStatusReport;

test('the online voter with the most of the log', () => {
  assert.is(transferTarget(report([member(1), member(2, { match: 90 }), member(3, { match: 100 })])), 3);
});

test('never itself, a standby, an offline or a draining member', () => {
  const members = [
    member(1, { match: 200 }),
    member(2, { role: 'standby', match: 150 }),
    member(3, { online: false, match: 150 }),
    member(4, { draining: true, match: 150 }),
    member(5, { match: 10 }),
  ];
  assert.is(transferTarget(report(members)), 5);
});

test('a single voter has nobody to hand over to', () => {
  assert.is(transferTarget(report([member(1), member(2, { role: 'spare' })])), undefined);
});

test.run();
