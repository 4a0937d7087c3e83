// The dependency rule of docs/architecture.md, checked on every test run: commands -> lab ->
// addons/lifecycle -> cluster -> services -> datastore -> node -> lib, and nothing imports a
// command. A failure names the file, what it imports and which way the rule runs.
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { layerViolations } from './layers.js';

const SRC = join(new URL('../..', import.meta.url).pathname, 'src');

test('every import in src/ runs down the layers', () => {
  const found = layerViolations(SRC);
  const lines = found.map((v) => `${v.file} imports ${v.imports || '-'}: ${v.why}`);
  assert.equal(lines, [], `imports against the layers:\n${lines.join('\n')}`);
});

test('the check itself catches an import up the layers', () => {
  const fixture = join(new URL('.', import.meta.url).pathname, 'fixture-src');
  const found = layerViolations(fixture).map((v) => `${v.file} -> ${v.imports}: ${v.why}`);
  assert.equal(found.sort(), [
    'lib/up.ts -> node/x.js: lib is below node',
    'node/x.ts -> commands/c.js: nothing imports a command',
  ]);
});

test.run();
