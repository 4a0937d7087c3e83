/** A limit hit is logged once per interval and key, with the count of lines held back. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../src/lib/log.js';
import { RateLimitedLog } from '../../src/lib/rate-limited-log.js';

test('one line per key and interval; the next one says how many were held back', () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('test', { sink: { write: (l) => lines.push(JSON.parse(l)) } });
  let now = 0;
  const log = new RateLimitedLog(logger, 1000, () => now);
  for (let i = 0; i < 100; i++) log.warn('a', 'limit a hit', { i });
  log.warn('b', 'limit b hit');
  now = 999;
  log.warn('a', 'limit a hit', { i: 100 });
  now = 1000;
  log.warn('a', 'limit a hit', { i: 101 });
  assert.equal(
    lines.map((l) => [l.message, l.i, l.suppressed]),
    [
      ['limit a hit', 0, undefined],
      ['limit b hit', undefined, undefined],
      ['limit a hit', 101, 100],
    ],
  );
  assert.is(lines[0]!.level, 'warn');
});

test.run();
