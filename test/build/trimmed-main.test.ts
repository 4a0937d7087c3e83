/**
 * The trimmed upstream main file (snap/local/build/trimmed-main.ts): exactly the named blank
 * imports go, and a release whose main file lacks one (or has it twice) stops the build.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { trimMainSource } from '../../snap/local/build/trimmed-main.js';

const trim = { module: 'example.com/up', file: 'main.go', dropImports: ['example.com/up/pkg/cloud'] };
const source = [
  'package main',
  '',
  'import (',
  '\t"fmt"',
  '\t_ "example.com/up/pkg/cloud"',
  '\t_ "example.com/up/pkg/cloudier"',
  ')',
  '',
].join('\n');

test('the named blank import is removed, nothing else', () => {
  const out = trimMainSource(source, trim);
  assert.not.match(out, '"example.com/up/pkg/cloud"');
  assert.match(out, '_ "example.com/up/pkg/cloudier"');
  assert.is(out.split('\n').length, source.split('\n').length - 1);
});

test('an import that is missing or repeated stops the build', () => {
  const missing = source.replace('\t_ "example.com/up/pkg/cloud"\n', '');
  assert.throws(
    () => trimMainSource(missing, trim),
    /expected one blank import of example\.com\/up\/pkg\/cloud, found 0/,
  );
  const twice = source.replace(')', '\t_ "example.com/up/pkg/cloud"\n)');
  assert.throws(() => trimMainSource(twice, trim), /found 2/);
});

test.run();
