/**
 * The refresh policy made visible: `status` shows the snap's channel, revision and hold, and
 * `refresh-hold` records a hold that the gate-auto-refresh hook turns into `snapctl refresh
 * --hold`. snapd cannot run here, so snapctl is MOCKED (test/snap/snap-env.ts): it answers
 * `refresh --pending`/`--hold` as snapd does, or as an older snapd does (unknown flag). Only the
 * app and the hook run; no daemon is started.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolvePaths } from '../../src/lib/paths.js';
import { formatRefreshPolicy, parsePending, readRefreshPolicy } from '../../src/lifecycle/refresh-policy.js';
import { SimulatedSnap } from './snap-env.js';

const snap = new SimulatedSnap('refresh-hold');
const old = new SimulatedSnap('refresh-hold-old');

test.after(() => {
  snap.remove();
  old.remove();
});

test('outside a snap the refresh part of status says "not a snap"', async () => {
  const paths = resolvePaths({ MICROK8S_HOME: join(snap.work, 'outside') });
  const policy = await readRefreshPolicy(paths);
  assert.equal(policy, { snap: false });
  assert.match(formatRefreshPolicy(policy).join('\n'), 'not a snap');
});

test("snapd's --pending YAML is read field by field", () => {
  assert.equal(
    parsePending(
      'pending: ready\nchannel: 1.36/stable\nversion: 1.36.4\nrevision: 7\nbase: false\nrestart: false\n',
    ),
    {
      pending: 'ready',
      channel: '1.36/stable',
      revision: '7',
      version: '1.36.4',
    },
  );
});

test('status in the snap shows channel, revision, pending refresh and no hold', () => {
  snap.setPendingRefresh(
    'pending: ready\nchannel: 1.36/stable\nversion: 1.36.4\nrevision: 2\nbase: false\nrestart: false\n',
  );
  snap.clearCalls();
  // No node was installed: status exits 3 (not running) but still prints the snap's part.
  const r = snap.app(['status']);
  assert.is(r.code, 3, r.stderr);
  assert.match(r.stdout, '  channel: 1.36/stable');
  assert.match(r.stdout, '  revision: 1 (version 1.36.3)');
  assert.match(r.stdout, '  refreshes: not held');
  assert.match(r.stdout, '  pending refresh: ready (revision 2, version 1.36.4)');
  assert.match(r.stdout, 'next refresh window: not visible from inside the snap');
  assert.ok(snap.calls().includes('refresh --pending'), snap.calls().join('; '));
});

test('refresh-hold --until records the hold; status shows it; the gate-auto-refresh hook asks snapd to hold', () => {
  const until = new Date(Date.now() + 7 * 86_400_000).toISOString();
  snap.clearCalls();
  const r = snap.app(['refresh-hold', '--until', until]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, `Refreshes of microk8s (channel 1.36/stable) held until ${until}.`);
  assert.not.match(r.stdout, 'at most 90 days');
  assert.equal(snap.calls(), ['refresh --pending']);

  const status = snap.app(['status']);
  assert.match(status.stdout, `  refreshes: held until ${until}`);

  snap.clearCalls();
  const hook = snap.hook('gate-auto-refresh', 60_000);
  assert.is(hook.code, 0, hook.stderr);
  assert.match(hook.stdout, 'refresh held (microk8s refresh-hold): hold: 2160h0m0s');
  assert.equal(snap.calls(), ['refresh --hold']);
});

test('refresh-hold --forever says snapd caps it; --release drops it and the hook holds nothing', () => {
  const forever = snap.app(['refresh-hold', '--forever']);
  assert.is(forever.code, 0, forever.stderr);
  assert.match(forever.stdout, 'held until released');
  assert.match(forever.stdout, 'at most 90 days');

  const release = snap.app(['refresh-hold', '--release']);
  assert.is(release.code, 0, release.stderr);
  assert.match(release.stdout, 'no longer held');
  assert.not.ok(existsSync(join(snap.common, 'refresh-hold.json')));

  snap.clearCalls();
  const hook = snap.hook('gate-auto-refresh', 60_000);
  assert.is(hook.code, 0, hook.stderr);
  assert.match(hook.stdout, 'no hold: snapd proceeds');
  assert.not.ok(snap.calls().includes('refresh --hold'), snap.calls().join('; '));
});

test('refresh-hold with a time in the past or no choice is refused', () => {
  const past = snap.app(['refresh-hold', '--until', '2000-01-01T00:00:00Z']);
  assert.is.not(past.code, 0);
  assert.match(past.stderr, 'MK_INVALID_ARGUMENT');
  const none = snap.app(['refresh-hold']);
  assert.is.not(none.code, 0);
  assert.match(none.stderr, 'MK_USAGE');
});

test('an old snapd (unknown flag) gives MK_SNAPD_TOO_OLD, records nothing, and status says so', () => {
  old.setOldSnapd();
  const r = old.app(['refresh-hold', '--forever']);
  assert.is(r.code, 3, r.stdout);
  assert.match(r.stderr, 'MK_SNAPD_TOO_OLD');
  assert.match(r.stderr, "unknown flag `pending'");
  assert.not.ok(existsSync(join(old.common, 'refresh-hold.json')));
  const status = old.app(['status']);
  assert.match(status.stdout, '  channel: unknown (snapd too old for `snapctl refresh --pending`)');
  assert.match(status.stdout, '  revision: 1 (version 1.36.3)');
});

test.run();
