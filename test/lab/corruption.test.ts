// Damaged files on a real node process: a torn log tail is truncated and the node carries on; a
// damaged database or log refuses to start with a clear message and leaves every file untouched.
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, openSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labSignal, labStart } from '../../src/lab/processes.js';
import { readLab } from '../../src/lab/spec.js';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { startLab, type TestLab } from './helpers.js';

let lab: TestLab;
let dataDir: string;

function segments(): string[] {
  return readdirSync(join(dataDir, 'raft'))
    .filter((f) => f.endsWith('.seg'))
    .sort()
    .map((f) => join(dataDir, 'raft', f));
}

function hashFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (name.endsWith('.sock') || name === 'datastore.log') continue;
      if (statSync(path).isDirectory()) walk(path);
      else out[path] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(dataDir);
  return out;
}

function flipByte(path: string, offset: number): void {
  const fd = openSync(path, 'r+');
  const buf = Buffer.alloc(1);
  const data = readFileSync(path);
  buf[0] = data[offset]! ^ 0xff;
  writeSync(fd, buf, 0, 1, offset);
  closeSync(fd);
}

async function expectRefusal(what: string): Promise<void> {
  const before = hashFiles();
  try {
    await labStart(lab.dir, 'node1');
    assert.unreachable(`${what}: the node should refuse to start`);
  } catch (error) {
    assert.ok(isMicroK8sError(error, 'MK_NOT_RUNNING'), String(error));
  }
  const log = readFileSync(join(dataDir, 'datastore.log'), 'utf8');
  assert.match(log, /MK_DATA_CORRUPTION/, `${what}: the log names the error`);
  assert.equal(hashFiles(), before, `${what}: the files are untouched`);
}

test.before(async () => {
  lab = await startLab(1, '127.0.6.1');
  dataDir = readLab(lab.dir).nodes[0]!.dataDir;
  const client = lab.client();
  for (let i = 0; i < 50; i++) await client.put(`k/${i}`).value(`v${i}`);
  await labSignal(lab.dir, 'node1', 'SIGTERM');
});
test.after(async () => {
  await lab?.down();
});

test('a torn log tail is truncated, logged, and the node carries on with every key', async () => {
  const last = segments().at(-1)!;
  appendFileSync(last, Buffer.from([0x00, 0x00, 0x01, 0x10, 0xde, 0xad, 0xbe, 0xef, 0x42]));
  // Garbage after the preallocated zeros looks exactly like a write torn by a crash.
  await labStart(lab.dir, 'node1');
  const client = lab.client();
  const all = await client.getAll().prefix('k/').strings();
  assert.is(Object.keys(all).length, 50);
  await client.put('k/after').value('ok');
  const log = readFileSync(join(dataDir, 'datastore.log'), 'utf8');
  assert.match(log, /torn/i, 'the truncation is logged');
  await labSignal(lab.dir, 'node1', 'SIGTERM');
});

test('a damaged database refuses to start and keeps its files', async () => {
  const db = join(dataDir, 'state.db');
  const saved = readFileSync(db);
  flipByte(db, 0); // the SQLite header
  await expectRefusal('database');
  // Put it back for the next test.
  const fd = openSync(db, 'w');
  writeSync(fd, saved);
  closeSync(fd);
});

test('a damaged log record in the middle refuses to start and keeps its files', async () => {
  const first = segments()[0]!;
  flipByte(first, 200);
  await expectRefusal('log');
});

test.run();
