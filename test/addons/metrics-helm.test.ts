/**
 * `microk8s enable metrics-server` and `microk8s enable helm` on a fresh real node (its own
 * network namespace, see test/kubernetes/node-netns.ts), as a user runs them: metrics-server
 * serves the metrics API through the API server's aggregation layer, so `kubectl top nodes` and
 * `kubectl top pods -A` answer; `microk8s helm install` of a local chart creates its object,
 * `helm list` shows the release, `helm uninstall` removes it; disable removes each addon's
 * objects; a repository's addon that depends on helm installs its chart through ctx.helm (helm
 * enabled first, kept while it is enabled) and a failed enable uninstalls what it installed. Needs root, cgroups and the upstream build with the metrics-server image and the
 * helm binary (`npm run build:upstream`); without them it fails and says why.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KubeNode, type Run, until } from '../kubernetes/node-cli.js';
import { inOwnNetns } from '../kubernetes/node-netns.js';
import { waitReady } from '../kubernetes/scenario.js';

const address = await inOwnNetns(new URL(import.meta.url).pathname, '10.200.50.2');
const node = new KubeNode('mk8s-metrics-helm');
/** Hang guard of one enable or disable (image import, rollout, the metrics API's first check). */
const ADDON_COMMAND_MS = 6 * 60_000;
/** Hang guard for the first metrics: metrics-server reports a node after two scrapes (15 s apart). */
const METRICS_MS = 4 * 60_000;
/** helm keeps its cache, config and repositories here, not in the tester's home. */
const helmEnv = {
  HELM_CACHE_HOME: join(node.home, 'helm', 'cache'),
  HELM_CONFIG_HOME: join(node.home, 'helm', 'config'),
  HELM_DATA_HOME: join(node.home, 'helm', 'data'),
};

test.after(async () => {
  if (node.started) await node.run(['stop']);
  rmSync(node.home, { recursive: true, force: true });
});

function helm(...args: string[]): Promise<Run> {
  return node.run(['helm', ...args], 120_000, helmEnv);
}

async function okRun(args: string[], timeoutMs = ADDON_COMMAND_MS): Promise<string> {
  const run = await node.run(args, timeoutMs);
  assert.is(run.code, 0, `${args.join(' ')}:\n${run.stdout}\n${run.stderr}`);
  return run.stdout;
}

async function timedEnable(addon: string): Promise<void> {
  const started = Date.now();
  const out = await okRun(['enable', addon]);
  console.log(`enable ${addon}: ${((Date.now() - started) / 1000).toFixed(1)} s\n${out.trim()}`);
  assert.match(out, new RegExp(`${addon} is enabled \\(`));
}

async function names(kinds: string, namespace: string | undefined, selector: string): Promise<string> {
  const where = namespace ? ['-n', namespace] : [];
  return (await node.kubectl('get', kinds, ...where, '-o', 'name', '-l', selector)).trim();
}

/** A local chart: one ConfigMap, <release>-config, whose greeting is a value. */
function writeChart(dir: string): string {
  mkdirSync(join(dir, 'templates'), { recursive: true });
  writeFileSync(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: demo\nversion: 0.1.0\n');
  writeFileSync(join(dir, 'values.yaml'), 'greeting: from-values\n');
  writeFileSync(
    join(dir, 'templates', 'configmap.yaml'),
    [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      '  name: {{ .Release.Name }}-config',
      'data:',
      '  greeting: {{ .Values.greeting | quote }}',
      '',
    ].join('\n'),
  );
  return dir;
}

test('a fresh node starts', async () => {
  await node.ok(['start', '--address', address]);
  await waitReady(node);
});

test('enable metrics-server returns once the metrics API is Available', async () => {
  await timedEnable('metrics-server');
  const api = await node.kubectlJson<{ status: { conditions: { type: string; status: string }[] } }>(
    'get',
    'apiservice',
    'v1beta1.metrics.k8s.io',
  );
  assert.ok(
    api.status.conditions.some((c) => c.type === 'Available' && c.status === 'True'),
    JSON.stringify(api.status),
  );
  assert.is((await node.ok(['status', '-a', 'metrics-server'])).trim(), 'enabled');
});

test('kubectl top nodes and kubectl top pods -A answer', async () => {
  const nodeName = (await node.kubectl('get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}')).trim();
  const started = Date.now();
  const top = await until('kubectl top nodes', METRICS_MS, async () => {
    const run = await node.run(['kubectl', 'top', 'nodes', '--no-headers']);
    return run.code === 0 && run.stdout.includes(nodeName) ? run.stdout : undefined;
  });
  console.log(`first node metrics after ${((Date.now() - started) / 1000).toFixed(1)} s:\n${top.trim()}`);
  // NAME CPU(cores) CPU% MEMORY(bytes) MEMORY%
  assert.match(top, new RegExp(`^${nodeName}\\s+\\d+m\\s+\\d+%\\s+\\d+Mi\\s+\\d+%`, 'm'));
  const pods = await until('kubectl top pods -A', METRICS_MS, async () => {
    const run = await node.run(['kubectl', 'top', 'pods', '-A', '--no-headers']);
    return run.code === 0 && /^kube-system\s+metrics-server-\S+\s+\d+m\s+\d+Mi/m.test(run.stdout)
      ? run.stdout
      : undefined;
  });
  console.log(pods.trim());
});

test('disable metrics-server removes its objects and the metrics API', async () => {
  await okRun(['disable', 'metrics-server']);
  assert.is(
    await names('deployment,service,serviceaccount,rolebinding', 'kube-system', 'k8s-app=metrics-server'),
    '',
  );
  assert.is(
    await names('clusterrole,clusterrolebinding,apiservice', undefined, 'k8s-app=metrics-server'),
    '',
  );
  const top = await node.run(['kubectl', 'top', 'nodes']);
  assert.is.not(top.code, 0, top.stdout);
  assert.is((await node.ok(['status', '-a', 'metrics-server'])).trim(), 'disabled');
});

test('microk8s helm is refused before the helm addon is enabled', async () => {
  const run = await helm('list');
  assert.is(run.code, 78, run.stdout + run.stderr);
  assert.match(run.stderr, /MK_ADDON_NOT_ENABLED/);
});

test('enable helm; helm install of a local chart creates its object; list; uninstall', async () => {
  await timedEnable('helm');
  const chart = writeChart(join(node.home, 'demo-chart'));
  const install = await helm('install', 'demo', chart, '--set', 'greeting=from-the-test');
  assert.is(install.code, 0, install.stdout + install.stderr);
  assert.match(install.stdout, /STATUS: deployed/);
  const greeting = await node.kubectl('get', 'configmap', 'demo-config', '-o', 'jsonpath={.data.greeting}');
  assert.is(greeting.trim(), 'from-the-test');
  const list = await helm('list');
  assert.is(list.code, 0, list.stderr);
  assert.match(list.stdout, /^demo\s+default\s+1\s+.*\sdeployed\s+demo-0\.1\.0/m);
  // The MicroK8s name for the same CLI.
  const list3 = await node.run(['helm3', 'list', '-q'], 120_000, helmEnv);
  assert.is(list3.code, 0, list3.stderr);
  assert.is(list3.stdout.trim(), 'demo');
  const uninstall = await helm('uninstall', 'demo');
  assert.is(uninstall.code, 0, uninstall.stdout + uninstall.stderr);
  assert.is((await node.kubectl('get', 'configmap', '-o', 'name')).trim(), 'configmap/kube-root-ca.crt');
  assert.is((await helm('list', '-q')).stdout.trim(), '');
});

test('disable helm removes its mark; microk8s helm is refused again', async () => {
  await okRun(['disable', 'helm']);
  assert.is(await names('configmap', 'kube-system', 'app.kubernetes.io/managed-by=microk8s'), '');
  assert.is((await node.ok(['status', '-a', 'helm'])).trim(), 'disabled');
  const run = await helm('list');
  assert.is(run.code, 78, run.stdout + run.stderr);
});

test("a repository's addon installs its chart through ctx.helm; helm is enabled first, as its dependency", async () => {
  const repo = join(node.home, 'chart-repo');
  writeChart(join(repo, 'chart-demo', 'chart'));
  writeFileSync(
    join(repo, 'addons.yaml'),
    [
      'addons:',
      '  - name: chart-demo',
      '    description: a local chart installed by its plugin through helm',
      '    version: "0.1"',
      '    architectures: [amd64, arm64]',
      '    dependencies: [helm]',
      '    plugin: plugin.ts',
      '    status: {apiVersion: v1, kind: ConfigMap, namespace: default, name: chartdemo-config}',
      '  - name: chart-fail',
      '    description: installs the chart, then fails',
      '    version: "0.1"',
      '    architectures: [amd64, arm64]',
      '    dependencies: [helm]',
      '    plugin: plugin.ts',
      '    status: {apiVersion: v1, kind: ConfigMap, namespace: default, name: chartfail-config}',
      '',
    ].join('\n'),
  );
  mkdirSync(join(repo, 'chart-fail'));
  writeFileSync(
    join(repo, 'chart-fail', 'plugin.ts'),
    [
      "import { join } from 'node:path';",
      'export async function enable(ctx: any): Promise<void> {',
      "  const chart = join(ctx.addon.dir, '..', 'chart-demo', 'chart');",
      "  await ctx.helm(['install', 'chartfail', chart], ['uninstall', 'chartfail']);",
      "  await ctx.step('the step that fails', async () => { throw new Error('on purpose'); });",
      '}',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(repo, 'chart-demo', 'plugin.ts'),
    [
      "import { join } from 'node:path';",
      'export async function enable(ctx: any): Promise<void> {',
      "  const chart = join(ctx.addon.dir, 'chart');",
      "  await ctx.helm(['install', 'chartdemo', chart, '--set', 'greeting=from-a-plugin'], ['uninstall', 'chartdemo']);",
      '}',
      'export async function disable(ctx: any): Promise<void> {',
      "  await ctx.helm(['uninstall', 'chartdemo']);",
      '}',
      '',
    ].join('\n'),
  );
  assert.is((await node.run(['addons', 'repo', 'add', 'charts', repo])).code, 0);
  const enable = await node.run(['enable', 'charts/chart-demo'], ADDON_COMMAND_MS, helmEnv);
  assert.is(enable.code, 0, enable.stdout + enable.stderr);
  assert.match(enable.stdout, /helm is enabled \(/);
  assert.match(enable.stdout, /chart-demo is enabled \(/);
  const greeting = await node.kubectl(
    'get',
    'configmap',
    'chartdemo-config',
    '-o',
    'jsonpath={.data.greeting}',
  );
  assert.is(greeting.trim(), 'from-a-plugin');
  assert.is((await helm('list', '-q')).stdout.trim(), 'chartdemo');
  // A failed enable uninstalls what its plugin installed.
  const failed = await node.run(['enable', 'charts/chart-fail', '--json'], ADDON_COMMAND_MS, helmEnv);
  assert.is(failed.code, 1, failed.stdout + failed.stderr);
  assert.match(failed.stdout, /MK_ADDON_FAILED/);
  assert.match(failed.stdout, /at step 'the step that fails': on purpose; what it applied was rolled back/);
  assert.is((await helm('list', '-q')).stdout.trim(), 'chartdemo');
  // helm stays while an addon that needs it is enabled.
  const refused = await node.run(['disable', 'helm', '--json']);
  assert.is(refused.code, 4, refused.stdout);
  assert.match(refused.stdout, /MK_ADDON_CONFLICT/);
  const disable = await node.run(['disable', 'charts/chart-demo', 'helm'], ADDON_COMMAND_MS, helmEnv);
  assert.is(disable.code, 0, disable.stdout + disable.stderr);
  assert.is((await node.kubectl('get', 'configmap', '-o', 'name')).trim(), 'configmap/kube-root-ca.crt');
  assert.is((await node.ok(['status', '-a', 'helm'])).trim(), 'disabled');
  assert.is((await node.run(['addons', 'repo', 'remove', 'charts'])).code, 0);
});

test.run();
