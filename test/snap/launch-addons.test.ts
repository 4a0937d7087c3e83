/**
 * The launch configuration's addons end to end on a real node (its own network namespace,
 * 10.213.60.2): queued as the install hook queues them, `launch-config apply` (what the snap's
 * launch-config oneshot runs) refuses while Kubernetes does not serve and keeps them queued,
 * then, with the node started, waits for it and enables dns through the one enable path. Runs
 * the CLI outside a snap (snapd cannot run here); the hooks themselves are in hooks.test.ts.
 * Needs root, cgroups and the upstream build with the addon images; without them it fails.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolvePaths } from '../../src/lib/paths.js';
import { checkLaunchConfig } from '../../src/lifecycle/launch-config.js';
import { launchPlanDoneFile, launchPlanFile, queueLaunchPlan } from '../../src/lifecycle/launch-plan.js';
import { KubeNode } from '../kubernetes/node-cli.js';
import { inOwnNetns } from '../kubernetes/node-netns.js';

const address = await inOwnNetns(new URL(import.meta.url).pathname, '10.213.60.2');
const node = new KubeNode('mk8s-launch-addons');
const paths = resolvePaths({ MICROK8S_HOME: node.home });
/** Hang guard: the node coming up plus the dns enable (image import, rollout). */
const APPLY_MS = 15 * 60_000;

test.after(async () => {
  if (node.started) await node.run(['stop']);
  rmSync(node.home, { recursive: true, force: true });
});

test('queued before the node is up: apply refuses (MK_NOT_RUNNING) and keeps the plan', async () => {
  mkdirSync(paths.common, { recursive: true });
  await queueLaunchPlan(paths, checkLaunchConfig('launch-addons.test', { addons: [{ name: 'dns' }] }));
  const early = await node.run(['launch-config', 'apply']);
  assert.is(early.code, 3, early.stdout + early.stderr);
  assert.match(early.stderr, 'MK_NOT_RUNNING');
  assert.ok(existsSync(launchPlanFile(paths)));
});

test('the node started: apply --wait waits for it and enables dns; the plan is done', async () => {
  await node.ok(['start', '--address', address]);
  const started = Date.now();
  const run = await node.run(['launch-config', 'apply', '--wait', '600'], APPLY_MS);
  console.log(`launch-config apply: ${((Date.now() - started) / 1000).toFixed(1)} s\n${run.stdout.trim()}`);
  assert.is(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, 'launch configuration: enable dns');
  assert.is((await node.ok(['status', '-a', 'dns'])).trim(), 'enabled');
  assert.not.ok(existsSync(launchPlanFile(paths)));
  assert.ok(existsSync(launchPlanDoneFile(paths)));
  const again = await node.ok(['launch-config', 'apply']);
  assert.match(again, 'no launch configuration addons queued');
});

test.run();
