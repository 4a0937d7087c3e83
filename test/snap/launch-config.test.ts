/**
 * The launch configuration (/etc/microk8s.yaml or $SNAP_COMMON/.microk8s.yaml, MicroK8s's
 * format): every section read, every bad field refused with MK_INVALID_CONFIG naming it, and the
 * queued addons run in order through the enable/disable path, resuming after a failure. The
 * hooks applying it from the unpacked .snap are in hooks.test.ts.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { disableAddons, enableAddons } from '../../src/addons/operations.js';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { resolvePaths } from '../../src/lib/paths.js';
import {
  checkLaunchConfig,
  type LaunchConfig,
  launchConfigFiles,
  readLaunchConfig,
} from '../../src/lifecycle/launch-config.js';
import {
  type AddonOperations,
  applyLaunchPlan,
  applyLaunchPlanWhenUp,
  launchPlanDoneFile,
  pendingLaunchPlan,
  queueLaunchPlan,
} from '../../src/lifecycle/launch-plan.js';

const work = mkdtempSync(join(tmpdir(), 'launch-config-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const paths = resolvePaths({ MICROK8S_HOME: join(work, 'home') });
const cert = join(work, 'etcd.pem');
writeFileSync(cert, 'not read here, only required to exist');

const FULL = {
  version: '0.1.0',
  address: '10.213.60.5',
  hostname: 'node-a',
  addons: [
    { name: 'dns' },
    { name: 'dns', args: ['--upstream', '1.1.1.1'] },
    { name: 'registry', disable: true },
  ],
  extraKubeletArgs: {
    '--max-pods': 50,
    '--fail-swap-on': false,
    '--rotate-certificates': true,
    '--cluster-dns': null,
  },
  extraKubeAPIServerArgs: { '--audit-log-maxage': '7' },
  externalEtcd: { endpoints: ['https://10.213.60.9:2379'], caFile: cert, certFile: cert, keyFile: cert },
};

function refused(doc: unknown, field: string, why?: string): void {
  try {
    checkLaunchConfig('/etc/microk8s.yaml', doc);
    assert.unreachable(`accepted; expected a refusal naming ${field}`);
  } catch (error) {
    assert.ok(isMicroK8sError(error, 'MK_INVALID_CONFIG'), String(error));
    assert.is(error.info.field, field, error.message);
    assert.match(error.message, `/etc/microk8s.yaml: ${field}: `);
    if (why) assert.match(error.message, why);
  }
}

test('every section is read: node, addons, args per service (null removes), external etcd', () => {
  const c = checkLaunchConfig('/etc/microk8s.yaml', FULL);
  assert.equal(c.setup.address, '10.213.60.5');
  assert.equal(c.setup.hostname, 'node-a');
  assert.equal(c.setup.externalEtcd?.endpoints, ['https://10.213.60.9:2379']);
  assert.equal(c.addons, [
    { name: 'dns', args: [], disable: false },
    { name: 'dns', args: ['--upstream', '1.1.1.1'], disable: false },
    { name: 'registry', args: [], disable: true },
  ]);
  assert.equal(c.args, [
    {
      service: 'kubelet',
      set: { 'max-pods': '50', 'fail-swap-on': 'false', 'rotate-certificates': '' },
      remove: ['cluster-dns'],
    },
    { service: 'kube-apiserver', set: { 'audit-log-maxage': '7' }, remove: [] },
  ]);
  const join = checkLaunchConfig('f', {
    join: { url: `10.213.60.9:25000/${'ab'.repeat(16)}/${'cd'.repeat(16)}`, worker: true },
  }).join;
  assert.equal(join, { url: `10.213.60.9:25000/${'ab'.repeat(16)}/${'cd'.repeat(16)}`, worker: true });
});

test('a bad field is refused by name: unknown keys, wrong types, bad values', () => {
  refused({ extraKubeletArg: {} }, 'extraKubeletArg', 'unknown key');
  refused({ persistentClusterToken: 'x' }, 'persistentClusterToken', 'unknown key');
  refused({ version: '0.2.0' }, 'version');
  refused({ address: 7 }, 'address', 'non-empty string');
  refused({ addons: { dns: true } }, 'addons', 'list');
  refused({ addons: [{ name: 'dns' }, { nmae: 'x' }] }, 'addons[1].nmae', 'unknown key');
  refused({ addons: [{ name: 'dns', args: '--upstream 1.1.1.1' }] }, 'addons[0].args', 'list');
  refused({ addons: [{ name: 'dns', disable: 'yes' }] }, 'addons[0].disable', 'true or false');
  refused({ extraKubeletArgs: { 'max-pods': '5' } }, 'extraKubeletArgs.max-pods', 'flag name');
  refused({ extraKubeletArgs: { '--max-pods': [5] } }, 'extraKubeletArgs.--max-pods', 'null removes');
  refused(
    { extraKubeletArgs: { '--node-labels': 'a=1\nb=2' } },
    'extraKubeletArgs.--node-labels',
    'one line',
  );
  refused({ extraKubeletArgs: ['--max-pods=5'] }, 'extraKubeletArgs', 'mapping');
  refused({ join: { url: 'https://10.0.0.1:25000/abc' } }, 'join.url', 'scheme');
  refused({ join: { url: '10.0.0.1:25000/abc', role: 'worker' } }, 'join.role', 'unknown key');
  refused(
    { externalEtcd: { ...FULL.externalEtcd, endpoints: ['10.0.0.1:2379'] } },
    'externalEtcd.endpoints[0]',
  );
  refused({ externalEtcd: { ...FULL.externalEtcd, keyFile: '/nowhere/key.pem' } }, 'externalEtcd.keyFile');
  refused(
    { externalEtcd: FULL.externalEtcd, join: { url: `10.0.0.1:25000/${'ab'.repeat(16)}` } },
    'join',
    'externalEtcd',
  );
  refused(['dns'], '(top)', 'mapping');
});

test('the files: MICROK8S_LAUNCH_CONFIG instead of /etc/microk8s.yaml, then $SNAP_COMMON/.microk8s.yaml', () => {
  assert.equal(launchConfigFiles(paths, {}), ['/etc/microk8s.yaml', join(paths.common, '.microk8s.yaml')]);
  const file = join(work, 'microk8s.yaml');
  assert.is(launchConfigFiles(paths, { MICROK8S_LAUNCH_CONFIG: file })[0], file);
  assert.is(readLaunchConfig(paths, [join(work, 'none.yaml')]), undefined);
  writeFileSync(file, 'addons: [dns\n');
  try {
    readLaunchConfig(paths, [file]);
    assert.unreachable('not YAML');
  } catch (error) {
    assert.ok(isMicroK8sError(error, 'MK_INVALID_CONFIG'), String(error));
    assert.is(error.info.field, '(file)');
  }
});

/** A stand-in for the addons library that records the calls and fails where told (MOCKED). */
function recording(failAt?: string): { ops: AddonOperations; calls: string[] } {
  const calls: string[] = [];
  const run = async (verb: string, words: readonly string[]) => {
    calls.push(`${verb} ${words.join(' ')}`);
    if (words[0] === failAt) throw new Error(`${failAt} failed (made up by the test)`);
    return [
      {
        name: words[0]!,
        result: verb === 'enable' ? ('enabled' as const) : ('disabled' as const),
        seconds: 0,
      },
    ];
  };
  return {
    calls,
    ops: { enable: (_p, words) => run('enable', words), disable: (_p, words) => run('disable', words) },
  };
}

test('the queued addons run in order; a failure keeps the rest queued and a second run resumes there', async () => {
  mkdirSync(paths.common, { recursive: true });
  const config: LaunchConfig = { ...checkLaunchConfig('f', { addons: FULL.addons }), file: 'f' };
  await queueLaunchPlan(paths, config);
  const first = recording('registry');
  try {
    await applyLaunchPlan(paths, first.ops, () => {});
    assert.unreachable('registry fails');
  } catch (error) {
    assert.match((error as Error).message, 'registry failed');
  }
  assert.equal(first.calls, ['enable dns', 'enable dns --upstream 1.1.1.1', 'disable registry']);
  assert.is(pendingLaunchPlan(paths)?.done, 2);
  const second = recording();
  const run = await applyLaunchPlan(paths, second.ops, () => {});
  assert.equal(second.calls, ['disable registry']);
  assert.is(run.outcomes.length, 1);
  assert.is(pendingLaunchPlan(paths), undefined);
  assert.ok(existsSync(launchPlanDoneFile(paths)));
  assert.equal((await applyLaunchPlan(paths, second.ops, () => {})).pending, false);
});

test('the real enable path on a node whose Kubernetes is not up: refused with a code, the plan kept', async () => {
  const config: LaunchConfig = { ...checkLaunchConfig('f', { addons: [{ name: 'dns' }] }), file: 'f' };
  await queueLaunchPlan(paths, config);
  const before = readFileSync(join(paths.common, 'launch-plan.json'), 'utf8');
  try {
    await applyLaunchPlan(paths, { enable: enableAddons, disable: disableAddons }, () => {});
    assert.unreachable('no Kubernetes here');
  } catch (error) {
    assert.ok(isMicroK8sError(error, 'MK_NO_CREDENTIALS'), String(error));
  }
  assert.is(readFileSync(join(paths.common, 'launch-plan.json'), 'utf8'), before);
  // Waiting for it: refused once the wait is over, the plan still queued.
  try {
    await applyLaunchPlanWhenUp(paths, { enable: enableAddons, disable: disableAddons }, () => {}, 0);
    assert.unreachable('Kubernetes is not up');
  } catch (error) {
    assert.ok(isMicroK8sError(error, 'MK_NOT_RUNNING'), String(error));
    assert.match(error.message, 'stay queued');
  }
  assert.is(readFileSync(join(paths.common, 'launch-plan.json'), 'utf8'), before);
});

test.run();
