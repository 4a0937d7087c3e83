// Shared by the addon tests that need no daemons: a call must fail with this stable code.
import * as assert from 'uvu/assert';
import { isMicroK8sError } from '../../src/lib/errors.js';

export function throwsCode(run: () => unknown, code: string, message?: RegExp): void {
  try {
    run();
  } catch (error) {
    assert.ok(isMicroK8sError(error), `not a MicroK8sError: ${String(error)}`);
    assert.is(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}
