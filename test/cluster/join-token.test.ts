// add-node tokens: generation, the hashed store, two-phase check/consume, TTL on an injected clock.
import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkUserToken, generateToken, hashToken } from '../../src/cluster/join/token.js';
import {
  DEFAULT_COMPARE,
  JoinTokenStore,
  TOKEN_FILE,
  TOKEN_LIMITS,
} from '../../src/cluster/join/token-store.js';
import { isMicroK8sError } from '../../src/lib/errors.js';

let root = '';
let counter = 0;

test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mk-join-token-'));
});
test.after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A store in a fresh folder, on a clock the test moves by hand. */
function fixture(options: { compare?: (a: Buffer, b: Buffer) => boolean } = {}) {
  const clock = { now: 1_700_000_000_000 };
  const dir = join(root, `store-${++counter}`);
  const store = new JoinTokenStore(dir, { now: () => clock.now, ...options });
  return { clock, dir, store };
}

async function rejects(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isMicroK8sError(error), String(error));
    assert.is((error as { code: string }).code, code);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('generated tokens are 32 lowercase hex characters and distinct', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const token = generateToken();
    assert.match(token, /^[0-9a-f]{32}$/);
    seen.add(token);
  }
  assert.is(seen.size, 1000);
});

test('user-chosen tokens: 32 to 256 hex characters, lowercased', () => {
  assert.is(checkUserToken('AB'.repeat(16)), 'ab'.repeat(16));
  for (const bad of [
    '',
    'a'.repeat(31),
    'g'.repeat(32),
    `${'a'.repeat(31)} `,
    'a'.repeat(257),
    `0x${'a'.repeat(32)}`,
  ]) {
    try {
      checkUserToken(bad);
      assert.unreachable(bad);
    } catch (error) {
      assert.ok(isMicroK8sError(error, 'MK_INVALID_ARGUMENT'), String(error));
    }
  }
});

test('only the SHA-256 of a token is stored, in a 0600 file', async () => {
  const { clock, dir, store } = fixture();
  const token = generateToken();
  await store.add(token);
  const text = await readFile(join(dir, TOKEN_FILE), 'utf8');
  assert.not.ok(text.includes(token), 'no plaintext token');
  assert.ok(text.includes(createHash('sha256').update(token).digest('hex')));
  assert.is((await stat(join(dir, TOKEN_FILE))).mode & 0o777, 0o600);
  assert.ok(hashToken(token.toUpperCase()).equals(hashToken(token)), 'hex is case-insensitive');
  assert.equal(await store.check(token.toUpperCase()), {
    ok: true,
    role: 'control-plane',
    singleUse: true,
    expiresAt: clock.now + TOKEN_LIMITS.defaultTtlSeconds * 1000,
  });
});

test('a single-use token works once; a second use is MK_JOIN_TOKEN_USED', async () => {
  const { clock, store } = fixture();
  const token = generateToken();
  await store.add(token);
  assert.equal(await store.check(token), {
    ok: true,
    role: 'control-plane',
    singleUse: true,
    expiresAt: clock.now + TOKEN_LIMITS.defaultTtlSeconds * 1000,
  });
  await store.consume(token);
  const second = await store.check(token);
  assert.is(second.ok, false);
  assert.is(!second.ok && second.code, 'MK_JOIN_TOKEN_USED');
  await rejects(store.consume(token), 'MK_JOIN_TOKEN_USED');
});

test('a token consumed for a join that then failed is given back, and works again', async () => {
  const { clock, store } = fixture();
  const token = generateToken();
  await store.add(token);
  await store.consume(token);
  await store.release(token);
  assert.equal(await store.check(token), {
    ok: true,
    role: 'control-plane',
    singleUse: true,
    expiresAt: clock.now + TOKEN_LIMITS.defaultTtlSeconds * 1000,
  });
  await store.consume(token);
  await rejects(store.consume(token), 'MK_JOIN_TOKEN_USED');
  // Releasing an unknown or malformed token changes nothing.
  await store.release(generateToken());
  await store.release('not-a-token');
  await rejects(store.consume(token), 'MK_JOIN_TOKEN_USED');
});

test('failed checks and failed consumes leave the token usable', async () => {
  const { store } = fixture();
  const token = generateToken();
  await store.add(token);
  const wrong = generateToken();
  const failed = await store.check(wrong);
  assert.equal(failed, { ok: false, code: 'MK_JOIN_TOKEN_INVALID', message: 'the join token is not valid' });
  await rejects(store.consume(wrong), 'MK_JOIN_TOKEN_INVALID');
  // A join that passed the token check and then failed on something else never consumed it.
  assert.is((await store.check(token)).ok, true);
  assert.is((await store.check(token)).ok, true, 'check alone never burns it');
  await store.consume(token);
});

test('unknown and malformed tokens are MK_JOIN_TOKEN_INVALID, also on an empty store', async () => {
  const { store } = fixture();
  for (const token of [generateToken(), '', 'short', 'z'.repeat(32), 'a'.repeat(300)]) {
    const result = await store.check(token);
    assert.is(!result.ok && result.code, 'MK_JOIN_TOKEN_INVALID', token);
  }
  await store.add(generateToken());
  assert.is((await store.check('a'.repeat(32))).ok, false);
});

test('a TTL token can be used many times until it expires (injected clock, no sleeping)', async () => {
  const { clock, store } = fixture();
  const token = generateToken();
  const start = clock.now;
  await store.add(token, { ttlSeconds: 60 });
  assert.equal(await store.check(token), {
    ok: true,
    role: 'control-plane',
    singleUse: false,
    expiresAt: start + 60_000,
  });
  await store.consume(token);
  clock.now = start + 59_999;
  await store.consume(token);
  assert.is((await store.check(token)).ok, true, 'not burned by use');
  clock.now = start + 60_000;
  const expired = await store.check(token);
  assert.is(!expired.ok && expired.code, 'MK_JOIN_TOKEN_EXPIRED');
  await rejects(store.consume(token), 'MK_JOIN_TOKEN_EXPIRED');
});

test('every token expires: a single-use one after the default hour; a worker token says so', async () => {
  const { clock, store } = fixture();
  const token = generateToken();
  await store.add(token, { role: 'worker' });
  const ok = await store.check(token);
  assert.ok(ok.ok && ok.role === 'worker' && ok.singleUse);
  clock.now += TOKEN_LIMITS.defaultTtlSeconds * 1000;
  const expired = await store.check(token);
  assert.is(!expired.ok && expired.code, 'MK_JOIN_TOKEN_EXPIRED');
  const once = generateToken();
  await store.add(once, { ttlSeconds: 600, singleUse: true });
  await store.consume(once);
  assert.is(((await store.check(once)) as { code: string }).code, 'MK_JOIN_TOKEN_USED');
});

test('list shows ids, roles and states; revoke by token, by id, or all', async () => {
  const { store } = fixture();
  const [a, b, c] = [generateToken(), generateToken(), generateToken()];
  await store.add(a, { role: 'worker' });
  await store.add(b);
  await store.add(c, { ttlSeconds: 60 });
  await store.consume(b);
  const listed = await store.list();
  assert.equal(
    listed.map((t) => [t.role, t.state, t.singleUse]),
    [
      ['worker', 'usable', true],
      ['control-plane', 'used', true],
      ['control-plane', 'usable', false],
    ],
  );
  assert.not.ok(JSON.stringify(listed).includes(a), 'the token itself is never listed');
  assert.is(await store.revoke({ token: a }), 1);
  assert.is(((await store.check(a)) as { code: string }).code, 'MK_JOIN_TOKEN_INVALID');
  assert.is(await store.revoke({ token: listed[2]!.id }), 1, 'by the id --list shows');
  assert.is(((await store.check(c)) as { code: string }).code, 'MK_JOIN_TOKEN_INVALID');
  assert.is(await store.revoke({ all: true }), 1);
  assert.equal(await store.list(), []);
});

test('used and expired tokens are remembered for a day, then forgotten', async () => {
  const { clock, dir, store } = fixture();
  const used = generateToken();
  const ttl = generateToken();
  await store.add(used);
  await store.add(ttl, { ttlSeconds: 1 });
  await store.consume(used);
  clock.now += TOKEN_LIMITS.retainMs - 1;
  await store.add(generateToken()); // any write prunes
  assert.is(((await store.check(used)) as { code: string }).code, 'MK_JOIN_TOKEN_USED');
  assert.is(((await store.check(ttl)) as { code: string }).code, 'MK_JOIN_TOKEN_EXPIRED');
  clock.now += 1_001;
  await store.add(generateToken());
  assert.is(((await store.check(used)) as { code: string }).code, 'MK_JOIN_TOKEN_INVALID');
  assert.is(((await store.check(ttl)) as { code: string }).code, 'MK_JOIN_TOKEN_INVALID');
  const file = JSON.parse(await readFile(join(dir, TOKEN_FILE), 'utf8'));
  assert.is(file.tokens.length, 2, 'only the two fresh tokens remain');
});

test('hashes are compared with timingSafeEqual, against every entry, without an early exit', async () => {
  assert.is(DEFAULT_COMPARE, timingSafeEqual);
  let calls = 0;
  const { store } = fixture({
    compare: (a, b) => {
      calls++;
      return timingSafeEqual(a, b);
    },
  });
  const tokens = [generateToken(), generateToken(), generateToken()];
  for (const token of tokens) await store.add(token);
  calls = 0;
  assert.is((await store.check(tokens[0]!)).ok, true, 'a match on the first entry');
  assert.is(calls, 3, 'still compared with all three');
  calls = 0;
  assert.is((await store.check(generateToken())).ok, false);
  assert.is(calls, 3);
});

test('two joins racing for one single-use token: exactly one wins', async () => {
  const { store } = fixture();
  const token = generateToken();
  await store.add(token);
  const results = await Promise.allSettled([
    store.consume(token),
    store.consume(token),
    store.consume(token),
  ]);
  assert.is(results.filter((r) => r.status === 'fulfilled').length, 1);
  for (const r of results) {
    if (r.status === 'rejected') assert.ok(isMicroK8sError(r.reason, 'MK_JOIN_TOKEN_USED'), String(r.reason));
  }
});

test('invalid TTLs and tokens are refused by add', async () => {
  const { store } = fixture();
  await rejects(store.add(generateToken(), { ttlSeconds: 0 }), 'MK_INVALID_CONFIG');
  await rejects(store.add(generateToken(), { ttlSeconds: 1.5 }), 'MK_INVALID_CONFIG');
  await rejects(store.add('abc'), 'MK_INVALID_ARGUMENT');
});

test('a corrupt token file is reported and left untouched', async () => {
  const { dir, store } = fixture();
  await store.add(generateToken());
  await writeFile(join(dir, TOKEN_FILE), '{"version": 1, "tokens": ');
  await rejects(store.check(generateToken()), 'MK_DATA_CORRUPTION');
  await rejects(store.add(generateToken()), 'MK_DATA_CORRUPTION');
  assert.is(await readFile(join(dir, TOKEN_FILE), 'utf8'), '{"version": 1, "tokens": ');
});

test.run();
