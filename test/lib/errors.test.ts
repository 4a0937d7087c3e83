import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AssertionError, assert as check } from '../../src/lib/assert.js';
import {
  ERROR_TABLE,
  type ErrorCode,
  ExitCode,
  isMicroK8sError,
  MicroK8sError,
} from '../../src/lib/errors.js';
import { checkLimit } from '../../src/lib/limits.js';
import { createLogger } from '../../src/lib/log.js';

test('every code has a stable MK_ name, a documented exit code and a hint', () => {
  const exitCodes = new Set<number>(Object.values(ExitCode));
  for (const [code, spec] of Object.entries(ERROR_TABLE)) {
    assert.match(code, /^MK_[A-Z0-9_]+$/);
    assert.ok(exitCodes.has(spec.exitCode), code);
    assert.ok(Number(spec.exitCode) > 0, `${code} must not exit 0`);
    assert.ok(spec.hint.length > 10, `${code} needs a hint`);
  }
});

test('an error takes exit code and hint from the table', () => {
  const error = new MicroK8sError('MK_NO_LEADER', 'no leader', { term: 3 });
  assert.is(error.exitCode, ExitCode.unavailable);
  assert.is(error.hint, ERROR_TABLE.MK_NO_LEADER.hint);
  assert.equal(error.toJSON(), { code: 'MK_NO_LEADER', message: 'no leader', hint: error.hint, term: 3 });
  assert.ok(isMicroK8sError(error));
  assert.ok(isMicroK8sError(error, 'MK_NO_LEADER'));
  assert.not.ok(isMicroK8sError(error, 'MK_USAGE' as ErrorCode));
  assert.not.ok(isMicroK8sError(new Error('x')));
});

test('assertions throw with a code and stay on', () => {
  assert.throws(
    () => check(false, 'x must hold'),
    (e: unknown) => e instanceof AssertionError && /x must hold/.test(String(e)),
  );
  check(true, 'fine');
});

test('limits are validated', () => {
  const spec = { name: 'max-inflight', min: 1, max: 1024, unit: 'messages' };
  assert.is(checkLimit(spec, 256), 256);
  for (const bad of [0, 1025, 1.5, Number.NaN]) {
    assert.throws(
      () => checkLimit(spec, bad),
      (e: unknown) => isMicroK8sError(e, 'MK_INVALID_CONFIG'),
    );
  }
});

test('logs are structured JSON lines with the component', () => {
  const lines: string[] = [];
  const log = createLogger('raft', {
    level: 'info',
    sink: { write: (l) => lines.push(l) },
    now: () => new Date(0),
  });
  log.debug('hidden');
  log.info('elected', { term: 2 });
  log.child('transport').warn('closed', { error: new MicroK8sError('MK_INTERNAL', 'boom') });
  assert.is(lines.length, 2);
  assert.equal(JSON.parse(lines[0]!), {
    time: '1970-01-01T00:00:00.000Z',
    level: 'info',
    component: 'raft',
    message: 'elected',
    term: 2,
  });
  const second = JSON.parse(lines[1]!);
  assert.is(second.component, 'raft.transport');
  assert.equal(second.error, { name: 'MicroK8sError', message: 'boom', code: 'MK_INTERNAL' });
});

test.run();
