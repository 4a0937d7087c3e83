// The node record: written atomically, read back checked; a node made before the record (args
// files only) gets one derived from those files on its first start, and keeps it.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { resolvePaths } from '../../src/lib/paths.js';
import {
  loadNodeRecord,
  NODE_RECORD_SCHEMA,
  nodeRecordPath,
  readNodeRecord,
  updateNodeRecord,
  writeNodeRecord,
} from '../../src/node/record.js';

const root = mkdtempSync(join(tmpdir(), 'mk8s-record-'));
test.after(() => rmSync(root, { recursive: true, force: true }));
let homes = 0;
const home = () => resolvePaths({ MICROK8S_HOME: join(root, `home${++homes}`) });

async function code(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (error) {
    return isMicroK8sError(error) ? error.code : String(error);
  }
  return 'no error';
}

test('a record is written and read back, with its schema version', async () => {
  const paths = home();
  assert.is(readNodeRecord(paths), undefined);
  await writeNodeRecord(paths, {
    kind: 'control-plane',
    clusterId: 'microk8s-abc',
    memberId: 3,
    address: '10.0.0.3',
    joinedAt: '2026-01-02T03:04:05.000Z',
  });
  const back = readNodeRecord(paths)!;
  assert.is(back.schema, NODE_RECORD_SCHEMA);
  assert.is(back.kind, 'control-plane');
  assert.is(back.memberId, 3);
  const moved = await updateNodeRecord(paths, (r) => ({ ...r, address: '10.0.0.9' }));
  assert.is(moved.address, '10.0.0.9');
  assert.is(readNodeRecord(paths)!.clusterId, 'microk8s-abc');
});

test('a node made before the record: control plane, derived once from its datastore args', async () => {
  const paths = home();
  mkdirSync(paths.args, { recursive: true });
  writeFileSync(
    join(paths.args, 'datastore'),
    '# datastore args\n--id=2\n--cluster-id=microk8s-old\n--peer-listen=10.1.2.3:2380\n--peer=1=10.1.2.1:2380\n',
  );
  const record = await loadNodeRecord(paths);
  assert.equal(
    { kind: record.kind, clusterId: record.clusterId, memberId: record.memberId, address: record.address },
    { kind: 'control-plane', clusterId: 'microk8s-old', memberId: 2, address: '10.1.2.3' },
  );
  assert.ok(existsSync(nodeRecordPath(paths)), 'written on the first start');
  // From now on the record answers, whatever the files say.
  rmSync(join(paths.args, 'datastore'));
  assert.is((await loadNodeRecord(paths)).kind, 'control-plane');
});

test('a worker made before the record (proxy args, no datastore args); a fresh node stays unwritten', async () => {
  const worker = home();
  mkdirSync(worker.args, { recursive: true });
  writeFileSync(
    join(worker.args, 'apiserver-proxy'),
    '--listen=0.0.0.0:16443\n--upstream=10.0.0.1:16443\n--local-address=10.0.0.7\n',
  );
  const record = await loadNodeRecord(worker);
  assert.is(record.kind, 'worker');
  assert.is(record.address, '10.0.0.7');
  const fresh = home();
  assert.is((await loadNodeRecord(fresh)).kind, 'fresh');
  assert.not.ok(existsSync(nodeRecordPath(fresh)));
});

test('a record newer than this version, or a damaged one, is refused', async () => {
  const paths = home();
  mkdirSync(paths.data, { recursive: true });
  writeFileSync(nodeRecordPath(paths), JSON.stringify({ schema: NODE_RECORD_SCHEMA + 1, kind: 'worker' }));
  assert.is(await code(() => readNodeRecord(paths)), 'MK_INVALID_CONFIG');
  writeFileSync(nodeRecordPath(paths), '{"schema":1,"kind":"captain"');
  assert.is(await code(() => readNodeRecord(paths)), 'MK_DATA_CORRUPTION');
  writeFileSync(nodeRecordPath(paths), JSON.stringify({ schema: 1, kind: 'captain' }));
  assert.is(await code(() => readNodeRecord(paths)), 'MK_DATA_CORRUPTION');
  assert.match(readFileSync(nodeRecordPath(paths), 'utf8'), /captain/, 'left untouched');
});

test.run();
