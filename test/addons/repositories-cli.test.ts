/**
 * Third-party repositories through the built CLI, no daemons: `addons repo add|list|remove`,
 * a folder without an index refused, an addon of an added repository found as REPO/NAME, and
 * its manifest that breaks the Kubernetes schema refused by `enable` before anything (even the
 * cluster) is touched, naming the object and the field.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Run, runCli } from '../kubernetes/node-cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'mk8s-addon-repos-'));
const home = join(scratch, 'home');
test.after(() => rmSync(scratch, { recursive: true, force: true }));

const cli = (...args: string[]) =>
  runCli([...args, '--json'], { env: { MICROK8S_HOME: home }, timeoutMs: 60_000 });

function errorOf(run: Run): { code: string; message: string } {
  assert.is.not(run.code, 0, run.stdout);
  return (JSON.parse(run.stdout) as { error: { code: string; message: string } }).error;
}

function thirdParty(): string {
  const dir = join(scratch, 'third');
  mkdirSync(join(dir, 'broken'), { recursive: true });
  writeFileSync(
    join(dir, 'addons.yaml'),
    [
      'addons:',
      '  - name: broken',
      '    description: a Service whose port is text',
      '    version: "0.1"',
      '    architectures: [amd64, arm64]',
      '    manifests: [service.yaml]',
      '    status: {apiVersion: v1, kind: Service, namespace: default, name: broken}',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'broken', 'service.yaml'),
    'apiVersion: v1\nkind: Service\nmetadata: {name: broken, namespace: default}\nspec:\n  ports:\n    - port: eighty\n',
  );
  return dir;
}

test('a folder without an index is refused and not recorded', async () => {
  const empty = join(scratch, 'empty');
  mkdirSync(empty, { recursive: true });
  const run = await cli('addons', 'repo', 'add', 'empty', empty);
  const error = errorOf(run);
  assert.is(error.code, 'MK_ADDON_REPOSITORY');
  assert.match(error.message, /has no addons\.yaml/);
  assert.is(run.code, 78);
  const list = JSON.parse((await cli('addons', 'repo', 'list')).stdout) as {
    repositories: { name: string }[];
  };
  assert.equal(
    list.repositories.map((r) => r.name),
    ['core'],
  );
});

test('an added repository lists its addons; its broken manifest fails enable, naming object and field', async () => {
  const added = await cli('addons', 'repo', 'add', 'third', thirdParty());
  assert.is(added.code, 0, added.stdout + added.stderr);
  const list = JSON.parse((await cli('addons', 'repo', 'list')).stdout) as {
    repositories: { name: string; addons: string[] }[];
  };
  assert.equal(list.repositories[1], { ...list.repositories[1]!, name: 'third', addons: ['broken'] });
  const run = await cli('enable', 'third/broken');
  const error = errorOf(run);
  assert.is(error.code, 'MK_ADDON_MANIFEST_INVALID');
  assert.match(
    error.message,
    /third\/broken\/service\.yaml: Service default\/broken: spec\.ports\[0\]\.port must be integer/,
  );
  assert.is(run.code, 4);
});

test('a removed repository no longer resolves', async () => {
  assert.is((await cli('addons', 'repo', 'remove', 'third')).code, 0);
  assert.is(errorOf(await cli('enable', 'third/broken')).code, 'MK_ADDON_UNKNOWN');
  assert.is(errorOf(await cli('addons', 'repo', 'remove', 'third')).code, 'MK_ADDON_UNKNOWN');
});

test.run();
