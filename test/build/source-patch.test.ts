/**
 * Exact edits of upstream files (snap/local/build/source-patch.ts): the text is replaced once,
 * `$` patterns in the replacement are taken literally, and a release where the text is missing
 * or repeated stops the build, saying why the edit was there.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { patchSource } from '../../snap/local/build/source-patch.js';

const patch = {
  module: 'example.com/up',
  file: 'internal/k8s/webhook.go',
  find: 'conversion.NewWebhookHandler(mgr.GetScheme())',
  replace: 'conversion.NewWebhookHandler(mgr.GetScheme(), mgr.GetConverterRegistry())',
  why: 'a new signature',
};
const source = 'func f() {\n\tregister("/convert", conversion.NewWebhookHandler(mgr.GetScheme()))\n}\n';

test('the text is replaced once, nothing else', () => {
  assert.is(
    patchSource(source, patch),
    'func f() {\n\tregister("/convert", conversion.NewWebhookHandler(mgr.GetScheme(), mgr.GetConverterRegistry()))\n}\n',
  );
  assert.is(patchSource('a x b', { ...patch, find: 'x', replace: "$&$'" }), "a $&$' b");
});

test('text that is missing or repeated stops the build, with the reason for the edit', () => {
  assert.throws(
    () => patchSource('func f() {}\n', patch),
    /found it 0 times \(the edit was for: a new signature\)/,
  );
  assert.throws(() => patchSource(source + source, patch), /found it 2 times/);
});

test.run();
