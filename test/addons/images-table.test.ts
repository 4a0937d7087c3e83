/**
 * The images table through the built CLI, no daemons: `addons images list` shows the built-in
 * mappings; `set` adds or overrides one (the user's wins, and says what it replaces); `unset`
 * drops it; bad input (not an image reference, an unknown override) gets a stable code and
 * writes nothing; an addon rendered with the node's table runs the user's image.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { effectiveImageTable } from '../../src/addons/image-table.js';
import { renderAddon } from '../../src/addons/render.js';
import { repositories } from '../../src/addons/repo-store.js';
import { findAddon } from '../../src/addons/repository.js';
import { resolvePaths } from '../../src/lib/paths.js';
import { COREDNS_IMAGE } from '../../src/services/images/names.js';
import { type Run, runCli } from '../kubernetes/node-cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'mk8s-addon-images-'));
const home = join(scratch, 'home');
const owner = join(home, 'common', 'addons', 'images.json');
test.after(() => rmSync(scratch, { recursive: true, force: true }));

const cli = (...args: string[]) =>
  runCli([...args, '--json'], { env: { MICROK8S_HOME: home }, timeoutMs: 60_000 });

interface Mapping {
  upstream: string;
  local: string;
  source: string;
  overrides?: string;
}

async function mappings(): Promise<Mapping[]> {
  const run = await cli('addons', 'images', 'list');
  assert.is(run.code, 0, run.stdout + run.stderr);
  return (JSON.parse(run.stdout) as { images: Mapping[] }).images;
}

function errorOf(run: Run): { code: string; message: string } {
  assert.is.not(run.code, 0, run.stdout);
  return (JSON.parse(run.stdout) as { error: { code: string; message: string } }).error;
}

const COREDNS = 'registry.k8s.io/coredns/coredns:v1.14.7';
const BUSYBOX = 'docker.io/library/busybox:1.37.0';

test('list shows the built-in mappings', async () => {
  const coredns = (await mappings()).find((m) => m.upstream === COREDNS);
  assert.equal(coredns, { upstream: COREDNS, local: COREDNS_IMAGE, source: 'built-in' });
  assert.is(existsSync(owner), false);
});

test('bad input is refused with a stable code and writes nothing', async () => {
  for (const args of [
    ['busybox', 'localhost/microk8s/busybox:1'],
    [BUSYBOX, 'Not An Image'],
    [BUSYBOX, BUSYBOX],
  ]) {
    const run = await cli('addons', 'images', 'set', ...args);
    assert.is(errorOf(run).code, 'MK_INVALID_ARGUMENT', args.join(' '));
    assert.is(run.code, 4);
  }
  const unset = await cli('addons', 'images', 'unset', COREDNS);
  assert.is(errorOf(unset).code, 'MK_IMAGE_MAPPING_UNKNOWN');
  assert.match(errorOf(unset).message, /its mapping is built in/);
  assert.is(existsSync(owner), false);
});

test("set adds and overrides; the user's mapping wins; unset restores the built-in one", async () => {
  const mirror = 'mirror.example:5000/coredns/coredns:v1.14.7';
  assert.is((await cli('addons', 'images', 'set', COREDNS, mirror)).code, 0);
  assert.is((await cli('addons', 'images', 'set', BUSYBOX, 'localhost/microk8s/busybox:1.35.0')).code, 0);
  const listed = await mappings();
  assert.equal(
    listed.find((m) => m.upstream === COREDNS),
    { upstream: COREDNS, local: mirror, source: 'user', overrides: COREDNS_IMAGE },
  );
  assert.equal(
    listed.find((m) => m.upstream === BUSYBOX),
    { upstream: BUSYBOX, local: 'localhost/microk8s/busybox:1.35.0', source: 'user' },
  );
  assert.equal(JSON.parse(readFileSync(owner, 'utf8')), {
    [COREDNS]: mirror,
    [BUSYBOX]: 'localhost/microk8s/busybox:1.35.0',
  });
  // An addon rendered with this node's table runs the user's images.
  const paths = resolvePaths({ MICROK8S_HOME: home });
  const hostAccess = findAddon(repositories(), 'host-access');
  const rendered = renderAddon(hostAccess, { address: '10.0.1.1', prefix: '32' }, effectiveImageTable(paths));
  assert.equal(rendered.images, ['localhost/microk8s/busybox:1.35.0']);
  assert.is((await cli('addons', 'images', 'unset', COREDNS)).code, 0);
  assert.equal(
    (await mappings()).find((m) => m.upstream === COREDNS),
    { upstream: COREDNS, local: COREDNS_IMAGE, source: 'built-in' },
  );
});

test.run();
