// Args files as operators keep them: only the named flags change; comments, blank lines and the
// other flags stay where they were; the mode is kept; bad service names and flags are refused
// with their codes before anything is written.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { checkArgsEdit, editArgsFile, editArgsText, readArgsFile } from '../../src/node/args-file.js';
import { SERVICE_NAMES, serviceSpec } from '../../src/services/catalog.js';

const dir = mkdtempSync(join(tmpdir(), 'mk8s-args-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function throwsCode(fn: () => unknown, code: string): Promise<void> {
  try {
    await fn();
  } catch (error) {
    assert.ok(isMicroK8sError(error), String(error));
    assert.is(error.code, code, error.message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

const ORIGINAL = [
  '# datastore args (kept)',
  '--id=1',
  '',
  '# tuning below',
  '--snapshot-entries 500',
  '--peer=2=127.0.0.2:2380',
  '--peer=3=127.0.0.3:2380',
  '--weight=3',
  '',
].join('\n');

test('set replaces in place, remove drops every line of the flag, comments stay', () => {
  const out = editArgsText(ORIGINAL, {
    set: { 'snapshot-entries': '2000', 'compaction-lag': '10' },
    remove: ['peer'],
  });
  assert.is(
    out.text,
    [
      '# datastore args (kept)',
      '--id=1',
      '',
      '# tuning below',
      '--snapshot-entries=2000',
      '--weight=3',
      '--compaction-lag=10',
      '',
    ].join('\n'),
  );
  assert.equal(out.removed, ['peer']);
});

test('a set of a repeated flag leaves one line; an empty value writes the bare flag', () => {
  const out = editArgsText(ORIGINAL, { set: { peer: '4=127.0.0.4:2380', 'feature-x': '' } });
  assert.equal(
    out.text.split('\n').filter((l: string) => l.startsWith('--peer')),
    ['--peer=4=127.0.0.4:2380'],
  );
  assert.match(out.text, /\n--feature-x\n$/);
});

test('the file: atomic edit keeps the mode, unchanged when nothing changes, created when missing', async () => {
  const file = join(dir, 'datastore');
  writeFileSync(file, ORIGINAL, { mode: 0o640 });
  const first = await editArgsFile(file, { set: { weight: '5' } });
  assert.ok(first.changed);
  assert.is(statSync(file).mode & 0o777, 0o640);
  assert.equal(readArgsFile(file).get('weight'), ['5']);
  assert.equal(readArgsFile(file).get('snapshot-entries'), ['500'], "'--name value' lines are read too");
  assert.not.ok((await editArgsFile(file, { set: { weight: '5' } })).changed);
  assert.not.ok((await editArgsFile(file, { remove: ['not-there'] })).changed);
  const fresh = join(dir, 'sub', 'apiserver-proxy');
  assert.ok((await editArgsFile(fresh, { set: { listen: '127.0.0.1:16443' } })).changed);
  assert.is(readFileSync(fresh, 'utf8'), '--listen=127.0.0.1:16443\n');
});

test('bad flags are refused with MK_SERVICE_BAD_FLAG before anything is written', async () => {
  const file = join(dir, 'kept');
  writeFileSync(file, ORIGINAL);
  await throwsCode(() => editArgsFile(file, { set: { '--id': '2' } }), 'MK_SERVICE_BAD_FLAG');
  await throwsCode(() => editArgsFile(file, { set: { Weight: '2' } }), 'MK_SERVICE_BAD_FLAG');
  await throwsCode(() => editArgsFile(file, { set: { weight: '2\n--id=9' } }), 'MK_SERVICE_BAD_FLAG');
  await throwsCode(() => editArgsFile(file, { remove: ['a b'] }), 'MK_SERVICE_BAD_FLAG');
  await throwsCode(() => checkArgsEdit({ set: { weight: '1' }, remove: ['weight'] }), 'MK_SERVICE_BAD_FLAG');
  assert.is(readFileSync(file, 'utf8'), ORIGINAL);
});

test('service names come from the catalog', async () => {
  for (const name of SERVICE_NAMES) assert.is(serviceSpec(name).name, name);
  await throwsCode(() => serviceSpec('kubelite'), 'MK_SERVICE_UNKNOWN');
  await throwsCode(() => serviceSpec('../datastore'), 'MK_SERVICE_UNKNOWN');
  assert.ok(serviceSpec('datastore').run, 'ours: it can be started outside a snap');
  assert.is(serviceSpec('kube-apiserver').run, undefined, 'upstream: the supervisor or the snap runs it');
});

test.run();
