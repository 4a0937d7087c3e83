import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type CheckResult, checkKvHistory, type Operation } from './checker.js';

// Terse constructors. Pass ret = Infinity for a pending op (no output).
const put = (client: number, key: string, value: string, call: number, ret: number): Operation =>
  ret === Infinity
    ? { client, input: { op: 'put', key, value }, call, ret }
    : { client, input: { op: 'put', key, value }, call, ret, output: { ok: true } };
const del = (client: number, key: string, call: number, ret: number): Operation =>
  ret === Infinity
    ? { client, input: { op: 'delete', key }, call, ret }
    : { client, input: { op: 'delete', key }, call, ret, output: { ok: true } };
const get = (client: number, key: string, value: string | undefined, call: number, ret: number): Operation =>
  ret === Infinity
    ? { client, input: { op: 'get', key }, call, ret }
    : { client, input: { op: 'get', key }, call, ret, output: { value } };

const ok = (h: Operation[]): void => {
  const r = checkKvHistory(h);
  assert.equal(r.ok, true, JSON.stringify(r));
};
const bad = (h: Operation[]): Extract<CheckResult, { ok: false }> => {
  const r = checkKvHistory(h);
  if (r.ok !== false) assert.unreachable(`expected violation, got ${JSON.stringify(r)}`);
  return r as Extract<CheckResult, { ok: false }>;
};

test('empty history is ok', () => {
  assert.equal(checkKvHistory([]), { ok: true, keys: 0, operations: 0 });
});

test('sequential good', () => {
  ok([get(0, 'x', undefined, 0, 1), put(0, 'x', '1', 2, 3), get(1, 'x', '1', 4, 5), put(1, 'x', '2', 6, 7)]);
  const r = checkKvHistory([put(0, 'x', '1', 0, 1), get(0, 'x', '1', 2, 3)]);
  assert.equal(r, { ok: true, keys: 1, operations: 2 });
});

test('sequential bad: stale read after completed put', () => {
  const r = bad([put(0, 'x', '1', 0, 1), put(0, 'x', '2', 2, 3), get(1, 'x', '1', 4, 5)]);
  assert.is(r.key, 'x');
  assert.is(r.operations.length, 3);
  assert.match(r.reason, /not linearizable/);
});

test('concurrent put/get: either order is fine', () => {
  ok([put(0, 'x', '1', 0, 10), get(1, 'x', undefined, 2, 8)]);
  ok([put(0, 'x', '1', 0, 10), get(1, 'x', '1', 2, 8)]);
  // Two concurrent puts, later read may see either.
  ok([put(0, 'x', 'a', 0, 10), put(1, 'x', 'b', 0, 10), get(2, 'x', 'a', 11, 12)]);
  ok([put(0, 'x', 'a', 0, 10), put(1, 'x', 'b', 0, 10), get(2, 'x', 'b', 11, 12)]);
});

test('classic bad: put completes, later get returns old value', () => {
  bad([put(0, 'x', '1', 0, 5), get(1, 'x', undefined, 6, 7)]);
});

test('touching intervals (ret === call) are concurrent', () => {
  // Documented choice: a precedes b only if a.ret < b.call strictly.
  ok([put(0, 'x', '1', 0, 5), get(1, 'x', undefined, 5, 6)]);
  bad([put(0, 'x', '1', 0, 5), get(1, 'x', undefined, 6, 6)]);
  // Zero-length op.
  ok([put(0, 'x', '1', 3, 3), get(1, 'x', '1', 4, 4)]);
});

test('reads observe values in an impossible order', () => {
  // Both reads overlap the put, but the first (non-overlapping, earlier) read
  // sees the new value and the later one the old value.
  bad([put(0, 'x', '1', 0, 100), get(1, 'x', '1', 10, 20), get(2, 'x', undefined, 30, 40)]);
  // Same reads in the possible order are fine.
  ok([put(0, 'x', '1', 0, 100), get(1, 'x', undefined, 10, 20), get(2, 'x', '1', 30, 40)]);
  // Two writers, readers disagree on the order irreconcilably.
  bad([
    put(0, 'x', 'a', 0, 100),
    put(1, 'x', 'b', 0, 100),
    get(2, 'x', 'a', 10, 20),
    get(2, 'x', 'b', 30, 40),
    get(2, 'x', 'a', 50, 60),
  ]);
});

test('pending put observed later is ok', () => {
  ok([put(0, 'x', '1', 0, Infinity), get(1, 'x', '1', 50, 60)]);
  // And can be observed to take effect after a later op began.
  ok([put(0, 'x', '1', 0, Infinity), get(1, 'x', undefined, 10, 20), get(1, 'x', '1', 30, 40)]);
});

test('pending put never observed is ok', () => {
  ok([put(0, 'x', '1', 0, Infinity), get(1, 'x', undefined, 10, 20), get(1, 'x', undefined, 30, 40)]);
  ok([put(0, 'x', '0', 0, 1), put(1, 'x', '1', 2, Infinity), get(1, 'x', '0', 100, 101)]);
});

test('pending put cannot take effect before its call', () => {
  bad([get(1, 'x', '1', 0, 5), put(0, 'x', '1', 10, Infinity)]);
});

test('pending ops still cannot explain an impossible order', () => {
  // Once the pending put's value has been seen and then overwritten by a
  // completed put, it cannot reappear (it took effect at most once).
  bad([
    put(0, 'x', '1', 0, Infinity),
    get(1, 'x', '1', 10, 20),
    put(1, 'x', '2', 30, 40),
    get(1, 'x', '1', 50, 60),
  ]);
});

test('pending get has unconstrained output', () => {
  ok([put(0, 'x', '1', 0, 1), get(1, 'x', undefined, 2, Infinity), del(0, 'x', 3, Infinity)]);
});

test('read of a value never written is bad', () => {
  bad([put(0, 'x', '1', 0, 10), get(1, 'x', '7', 2, 8)]);
  bad([get(1, 'x', 'ghost', 0, 1)]);
});

test('multi-key: only the bad key is reported', () => {
  const h = [
    put(0, 'a', '1', 0, 1),
    put(1, 'b', '1', 0, 1),
    put(2, 'c', '1', 0, 1),
    get(0, 'a', '1', 2, 3),
    get(1, 'b', undefined, 2, 3), // stale
    get(2, 'c', '1', 2, 3),
    // Reading another key's value is fine only if that key has it.
    get(2, 'a', '1', 4, 5),
  ];
  const r = bad(h);
  assert.is(r.key, 'b');
  assert.equal(r.operations, [h[1], h[4]]);
  ok(h.filter((_, i) => i !== 4));
  assert.equal(checkKvHistory(h.filter((_, i) => i !== 4)), { ok: true, keys: 3, operations: 6 });
});

test('delete semantics', () => {
  ok([put(0, 'x', '1', 0, 1), del(0, 'x', 2, 3), get(1, 'x', undefined, 4, 5)]);
  bad([put(0, 'x', '1', 0, 1), del(0, 'x', 2, 3), get(1, 'x', '1', 4, 5)]);
  // Delete concurrent with a read: either value.
  ok([put(0, 'x', '1', 0, 1), del(0, 'x', 2, 10), get(1, 'x', '1', 3, 4)]);
  ok([put(0, 'x', '1', 0, 1), del(0, 'x', 2, 10), get(1, 'x', undefined, 3, 4)]);
  // Re-put after delete.
  ok([del(0, 'x', 0, 1), put(0, 'x', '2', 2, 3), get(1, 'x', '2', 4, 5)]);
  // Pending delete may or may not have happened.
  ok([put(0, 'x', '1', 0, 1), del(0, 'x', 2, Infinity), get(1, 'x', '1', 4, 5)]);
  ok([put(0, 'x', '1', 0, 1), del(0, 'x', 2, Infinity), get(1, 'x', undefined, 4, 5)]);
  bad([
    put(0, 'x', '1', 0, 1),
    del(0, 'x', 2, Infinity),
    get(1, 'x', undefined, 4, 5),
    get(1, 'x', '1', 6, 7),
  ]);
});

test('input assertions', () => {
  assert.throws(() => checkKvHistory([put(0, 'x', '1', 5, 4)]), /call \(5\) > ret \(4\)/);
  const weird = { client: 0, input: { op: 'cas', key: 'x' }, call: 0, ret: 1, output: { ok: true } };
  assert.throws(() => checkKvHistory([weird as unknown as Operation]), /unknown op kind "cas"/);
  assert.throws(
    () => checkKvHistory([{ client: 0, input: { op: 'get', key: 'x' }, call: 0, ret: 1 }]),
    /must have an output/,
  );
  assert.throws(
    () => checkKvHistory([{ ...get(0, 'x', '1', 0, 1), ret: Infinity }]),
    /pending op .* must not have an output/,
  );
  assert.throws(
    () => checkKvHistory([{ ...put(0, 'x', '1', 0, 1), output: { value: '1' } }]),
    /\{ok: true\}/,
  );
  assert.throws(() => checkKvHistory([put(0, 'x', '1', Number.NaN, 1)]), /call must be a finite number/);
});

// ---------------------------------------------------------------------------
// Randomized: histories generated from a real sequential execution.

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Generated {
  history: Operation[];
  // Value the store really returned for each completed get, by index.
  reads: number[];
  written: Map<string, Set<string>>;
}

// Op i takes effect at time 10*i + 5 (its linearization point) against a real
// Map; its interval is stretched randomly around that point, so the history is
// linearizable by construction. Pending ops take effect or not at random.
function generate(rand: () => number, n: number, opts: { spread: number; pending: number }): Generated {
  const keys = ['k0', 'k1', 'k2'];
  const store = new Map<string, string>();
  const history: Operation[] = [];
  const reads: number[] = [];
  const written = new Map<string, Set<string>>(keys.map((k) => [k, new Set<string>()]));
  for (let i = 0; i < n; i++) {
    const lp = 10 * i + 5;
    const call = lp - Math.floor(rand() * opts.spread);
    const pending = rand() < opts.pending;
    const ret = pending ? Infinity : lp + Math.floor(rand() * opts.spread);
    const effective = !pending || rand() < 0.5;
    const key = keys[Math.floor(rand() * keys.length)]!;
    const client = i % 7;
    const r = rand();
    if (r < 0.4) {
      const value = `v${i}`;
      written.get(key)!.add(value);
      if (effective) store.set(key, value);
      history.push(put(client, key, value, call, ret));
    } else if (r < 0.55) {
      if (effective) store.delete(key);
      history.push(del(client, key, call, ret));
    } else {
      history.push(get(client, key, store.get(key), call, ret));
      if (!pending) reads.push(history.length - 1);
    }
  }
  // Present the history in a shuffled order: the checker must not rely on it.
  for (let i = history.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = history[i]!;
    history[i] = history[j]!;
    history[j] = t;
    for (let k = 0; k < reads.length; k++) {
      if (reads[k] === i) reads[k] = j;
      else if (reads[k] === j) reads[k] = i;
    }
  }
  return { history, reads, written };
}

const withRead = (h: Operation[], idx: number, value: string | undefined): Operation[] =>
  h.map((op, i) => (i === idx ? { ...op, output: { value } } : op));

test('randomized: consistent histories pass, reads of never-written values fail', () => {
  const rand = mulberry32(12345);
  let rejected = 0;
  for (let iter = 0; iter < 300; iter++) {
    const n = 10 + Math.floor(rand() * 60);
    const g = generate(rand, n, { spread: Math.floor(rand() * 60), pending: rand() * 0.3 });
    const r = checkKvHistory(g.history);
    assert.equal(r.ok, true, `iteration ${iter}: ${JSON.stringify(r)}`);
    if (g.reads.length === 0) continue;
    const idx = g.reads[Math.floor(rand() * g.reads.length)]!;
    const m = checkKvHistory(withRead(g.history, idx, 'never-written'));
    assert.is(m.ok, false, `iteration ${iter}: corrupted read accepted`);
    if (m.ok === false) assert.is(m.key, g.history[idx]!.input.key);
    rejected++;
  }
  assert.ok(rejected > 250);
});

test('randomized: strictly sequential histories reject any changed read', () => {
  // With no overlap and no pending ops the only linearization is the real
  // order, so every wrong read (even of a value written elsewhere) is caught.
  const rand = mulberry32(777);
  let rejected = 0;
  for (let iter = 0; iter < 200; iter++) {
    const g = generate(rand, 10 + Math.floor(rand() * 40), { spread: 1, pending: 0 });
    assert.equal(checkKvHistory(g.history).ok, true);
    const idx = g.reads[Math.floor(rand() * g.reads.length)];
    if (idx === undefined) continue;
    const op = g.history[idx]!;
    const actual = op.output && 'value' in op.output ? op.output.value : undefined;
    const candidates = [undefined, ...g.written.get(op.input.key)!].filter((v) => v !== actual);
    if (candidates.length === 0) continue;
    const wrong = candidates[Math.floor(rand() * candidates.length)];
    assert.is(checkKvHistory(withRead(g.history, idx, wrong)).ok, false, `iteration ${iter}`);
    rejected++;
  }
  assert.ok(rejected > 150);
});

test('memoization keeps highly concurrent histories fast', () => {
  // 14 mutually concurrent puts, then a read that pins down the final value.
  // Plain Wing-Gong would explore up to 14! (~8.7e10) orders; with the memo
  // the search visits each (set of puts done, last value) at most once.
  const h: Operation[] = [];
  for (let i = 0; i < 14; i++) h.push(put(i, 'x', `v${i}`, 0, 100));
  h.push(get(99, 'x', 'v3', 101, 102));
  ok(h);
  // And an impossible read after them is still reported as a violation.
  bad([...h, get(99, 'x', undefined, 103, 104)]);
});

test('step limit yields unknown, never a pass', () => {
  const h: Operation[] = [];
  for (let i = 0; i < 12; i++) h.push(put(i, 'x', `v${i}`, 0, 100));
  h.push(get(99, 'x', 'v3', 101, 102));
  const r = checkKvHistory(h, { maxSteps: 10 });
  assert.is(r.ok, 'unknown');
  if (r.ok === 'unknown') {
    assert.is(r.key, 'x');
    assert.match(r.reason, /maxSteps=10/);
  }
  assert.is(checkKvHistory(h).ok, true);
  // A definite failure on another key still wins over 'unknown'.
  const r2 = checkKvHistory([...h, put(0, 'y', '1', 0, 1), get(0, 'y', '2', 2, 3)], { maxSteps: 10 });
  assert.is(r2.ok, false);
});

test('many unobserved pending puts do not blow up the search', () => {
  const history: Operation[] = [];
  for (let i = 0; i < 40; i++) {
    history.push({
      client: i,
      input: { op: 'put', key: 'x', value: `lost-${i}` },
      call: i,
      ret: Number.POSITIVE_INFINITY,
    });
  }
  history.push({
    client: 100,
    input: { op: 'put', key: 'x', value: 'seen' },
    call: 50,
    ret: 60,
    output: { ok: true },
  });
  history.push({ client: 101, input: { op: 'get', key: 'x' }, call: 70, ret: 80, output: { value: 'seen' } });
  assert.is(checkKvHistory(history, { maxSteps: 10_000 }).ok, true);
  // An observed pending put still counts, and a stale read is still caught.
  history.push({
    client: 102,
    input: { op: 'get', key: 'x' },
    call: 90,
    ret: 95,
    output: { value: 'lost-3' },
  });
  history.push({
    client: 103,
    input: { op: 'get', key: 'x' },
    call: 100,
    ret: 105,
    output: { value: 'seen' },
  });
  assert.is(checkKvHistory(history, { maxSteps: 100_000 }).ok, false);
});

test.run();
