/**
 * Addon repositories from git, through the built CLI, no daemons: `addons repo add NAME URL
 * --reference R` clones with the system git and checks out a tag or a branch; `repo list`
 * shows source, reference and commit; `repo update` follows a branch and leaves a tag; an
 * unreachable URL, an unknown reference and a clone without an index are refused with stable
 * codes, recording nothing and leaving no clone; a folder repository cannot be updated; an
 * added addon resolves as REPO/NAME; a removed repository's clone and addons are gone.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isGitSource } from '../../src/addons/git.js';
import { type Run, runCli } from '../kubernetes/node-cli.js';
import { configMapAddon, GitSource } from './git-source.js';

const scratch = mkdtempSync(join(tmpdir(), 'mk8s-addon-git-'));
const home = join(scratch, 'home');
const clones = join(home, 'common', 'addons', 'repositories');
test.after(() => rmSync(scratch, { recursive: true, force: true }));

const cli = (...args: string[]) =>
  runCli([...args, '--json'], { env: { MICROK8S_HOME: home }, timeoutMs: 60_000 });

async function ok<T>(...args: string[]): Promise<T> {
  const run = await cli(...args);
  assert.is(run.code, 0, `${args.join(' ')}: ${run.stdout}${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

function errorOf(run: Run): { code: string; message: string } {
  assert.is.not(run.code, 0, run.stdout);
  return (JSON.parse(run.stdout) as { error: { code: string; message: string } }).error;
}

interface Listed {
  name: string;
  source: string;
  reference?: string;
  commit?: string;
  addons: string[];
}

async function listed(): Promise<Listed[]> {
  return (await ok<{ repositories: Listed[] }>('addons', 'repo', 'list')).repositories;
}

test('what counts as a git source: a URL, user@host:path, a path ending in .git', () => {
  for (const git of [
    'https://example.org/a.git',
    'file:///srv/a',
    'git@example.org:a/b',
    './a.git',
    '/srv/a.git/',
  ])
    assert.ok(isGitSource(git), git);
  for (const folder of ['./addons', '/srv/addons', 'addons', 'C-dir'])
    assert.not.ok(isGitSource(folder), folder);
});

const source = new GitSource(join(scratch, 'source'));
const first = source.commit('hello v1', configMapAddon('hello', 'one'));
source.tag('v1');

test('a tag and a branch are cloned and checked out; list shows source, reference and commit', async () => {
  await ok('addons', 'repo', 'add', 'pinned', source.url, '--reference', 'v1');
  await ok('addons', 'repo', 'add', 'follow', source.url, '--reference', 'main');
  const repos = await listed();
  assert.equal(
    repos.map((r) => r.name),
    ['core', 'pinned', 'follow'],
  );
  assert.equal(repos[1], {
    ...repos[1]!,
    source: source.url,
    reference: 'v1',
    commit: first,
    addons: ['hello'],
  });
  assert.equal(repos[2], { ...repos[2]!, source: source.url, reference: 'main', commit: first });
  assert.is(repos[0]!.commit, undefined);
  assert.equal(readdirSync(clones).sort(), ['follow', 'pinned']);
});

test('update follows the branch to its new commit; the tag stays', async () => {
  const second = source.commit('hello v2', configMapAddon('hello', 'two'));
  const followed = await ok<{ commit: string; previous: string }>('addons', 'repo', 'update', 'follow');
  assert.equal([followed.previous, followed.commit], [first, second]);
  assert.match(readFileSync(join(clones, 'follow', 'hello', 'configmap.yaml'), 'utf8'), /value: two/);
  const pinned = await ok<{ commit: string }>('addons', 'repo', 'update', 'pinned');
  assert.is(pinned.commit, first);
  assert.match(readFileSync(join(clones, 'pinned', 'hello', 'configmap.yaml'), 'utf8'), /value: one/);
  const repos = await listed();
  assert.equal(
    repos.map((r) => r.commit),
    [undefined, first, second],
  );
});

test('an unreachable URL, an unknown reference and a clone without an index record nothing', async () => {
  const unreachable = await cli('addons', 'repo', 'add', 'gone', `file://${join(scratch, 'nowhere.git')}`);
  assert.is(errorOf(unreachable).code, 'MK_ADDON_GIT_UNREACHABLE');
  assert.is(unreachable.code, 3);
  const reference = await cli('addons', 'repo', 'add', 'bad-ref', source.url, '--reference', 'v9');
  assert.is(errorOf(reference).code, 'MK_ADDON_GIT_REFERENCE');
  assert.match(errorOf(reference).message, /'v9' is neither a branch, a tag nor a commit/);
  assert.is(reference.code, 4);
  const bare = new GitSource(join(scratch, 'no-index'));
  bare.commit('no index here', { 'README.md': 'not an addon repository\n' });
  const noIndex = await cli('addons', 'repo', 'add', 'no-index', bare.url);
  assert.is(errorOf(noIndex).code, 'MK_ADDON_REPOSITORY');
  assert.match(errorOf(noIndex).message, /has no addons\.yaml/);
  assert.is(noIndex.code, 78);
  assert.equal(
    (await listed()).map((r) => r.name),
    ['core', 'pinned', 'follow'],
  );
  assert.equal(readdirSync(clones).sort(), ['follow', 'pinned']);
});

test('a folder repository is read in place and cannot be updated', async () => {
  const folder = join(scratch, 'folder-repo');
  mkdirSync(join(folder, 'thing'), { recursive: true });
  for (const [path, text] of Object.entries(configMapAddon('thing', 'x')))
    writeFileSync(join(folder, path), text);
  await ok('addons', 'repo', 'add', 'folder', folder);
  const run = await cli('addons', 'repo', 'update', 'folder');
  assert.is(errorOf(run).code, 'MK_ADDON_REPO_NOT_GIT');
  assert.is(run.code, 4);
  await ok('addons', 'repo', 'remove', 'folder');
  assert.ok(existsSync(folder), "the user's folder is not deleted");
});

test('an added addon resolves as REPO/NAME; removing its repository deletes the clone and the addon', async () => {
  // Without a running node the enable stops after resolving and rendering: not MK_ADDON_UNKNOWN.
  const resolved = errorOf(await cli('enable', 'follow/hello'));
  assert.is.not(resolved.code, 'MK_ADDON_UNKNOWN', resolved.message);
  await ok('addons', 'repo', 'remove', 'follow');
  assert.is(existsSync(join(clones, 'follow')), false);
  assert.is(errorOf(await cli('enable', 'follow/hello')).code, 'MK_ADDON_UNKNOWN');
  assert.is((await cli('addons', 'repo', 'update', 'follow')).code, 4);
  await ok('addons', 'repo', 'remove', 'pinned');
  assert.equal(readdirSync(clones), []);
});

test.run();
