// Where `join` takes its join line from: the argument, or a file (the line add-node prints may be
// pasted whole), never both; a file that holds no line or too much is refused.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readJoinLine } from '../../src/cluster/join/join-line.js';
import { isMicroK8sError } from '../../src/lib/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'mk8s-join-line-'));
const LINE = `10.0.0.1:25000/${'a'.repeat(32)}/${'b'.repeat(32)}`;

async function refused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isMicroK8sError(error) && error.code === 'MK_INVALID_ARGUMENT', String(error));
    assert.match((error as Error).message, pattern);
    return;
  }
  assert.unreachable('expected a refusal');
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('the argument, or the line in a file (bare, or the whole printed command)', async () => {
  assert.is(await readJoinLine(LINE, undefined), LINE);
  const bare = join(dir, 'bare');
  writeFileSync(bare, `${LINE}\n`);
  assert.is(await readJoinLine(undefined, bare), LINE);
  const pasted = join(dir, 'pasted');
  writeFileSync(pasted, `microk8s join ${LINE} --worker\n`);
  assert.is(await readJoinLine(undefined, pasted), LINE);
});

test('both, neither, an empty file, a missing file or a large one are refused', async () => {
  const file = join(dir, 'line');
  writeFileSync(file, LINE);
  await refused(readJoinLine(LINE, file), /not both/);
  await refused(readJoinLine(undefined, undefined), /give the join line/);
  const empty = join(dir, 'empty');
  writeFileSync(empty, '\n');
  await refused(readJoinLine(undefined, empty), /holds no join line/);
  await refused(readJoinLine(undefined, join(dir, 'missing')), /cannot read/);
  const large = join(dir, 'large');
  writeFileSync(large, 'x'.repeat(5000));
  await refused(readJoinLine(undefined, large), /larger than a join line/);
});

test.run();
