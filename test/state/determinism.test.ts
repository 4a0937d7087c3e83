import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeCommand } from '../../src/datastore/state/codec.js';
import { KvStateMachine } from '../../src/datastore/state/kv-store.js';
import type {
  ApplyResult,
  Command,
  Compare,
  RequestOp,
  RevisionEvents,
  TxnRequest,
} from '../../src/datastore/state/types.js';
import { SeededRandom } from '../../src/lib/random.js';
import { quietLogger, ZERO } from './helpers.js';

const KEYS = ['a', 'a/1', 'a/2', 'b', 'b/x', 'c', '\u0000k', '\u00ffz'].map(
  (k) => new Uint8Array(Buffer.from(k, 'latin1')),
);
const LEASES = [1, 2, 3];

class Generator {
  revisionGuess = 1;
  constructor(private readonly random: SeededRandom) {}

  key(): Uint8Array {
    return this.random.pick(KEYS);
  }

  value(): Uint8Array {
    return new Uint8Array(this.random.int(6)).map(() => this.random.int(256));
  }

  rangeEnd(): Uint8Array | undefined {
    const roll = this.random.int(4);
    if (roll === 0) return ZERO;
    if (roll === 1) return this.key();
    return undefined;
  }

  compare(): Compare {
    const target = this.random.pick(['version', 'create', 'mod', 'value', 'lease'] as const);
    const result = this.random.pick(['equal', 'greater', 'less', 'not_equal'] as const);
    const rangeEnd = this.random.chance(0.2) ? this.rangeEnd() : undefined;
    const operand = target === 'value' ? this.value() : this.random.int(this.revisionGuess + 2) - 1;
    return { key: this.key(), ...(rangeEnd ? { rangeEnd } : {}), target, result, operand };
  }

  op(depth: number): RequestOp {
    const roll = this.random.int(depth < 2 ? 5 : 4);
    if (roll === 0) {
      const rangeEnd = this.rangeEnd();
      return {
        range: {
          key: this.key(),
          ...(rangeEnd ? { rangeEnd } : {}),
          ...(this.random.chance(0.3) ? { limit: 1 + this.random.int(3) } : {}),
          ...(this.random.chance(0.2) ? { revision: this.random.int(this.revisionGuess + 1) } : {}),
          ...(this.random.chance(0.2) ? { sortOrder: 'descend' as const, sortTarget: 'mod' as const } : {}),
        },
      };
    }
    if (roll === 1 || roll === 2) return { put: this.put() };
    if (roll === 3) {
      const rangeEnd = this.rangeEnd();
      return {
        deleteRange: { key: this.key(), ...(rangeEnd ? { rangeEnd } : {}), prevKv: this.random.chance(0.5) },
      };
    }
    return { txn: this.txn(depth + 1) };
  }

  put() {
    const lease = this.random.chance(0.2) ? this.random.pick(LEASES) : 0;
    return {
      key: this.key(),
      value: this.value(),
      ...(lease ? { lease } : {}),
      ...(this.random.chance(0.3) ? { prevKv: true } : {}),
      ...(this.random.chance(0.05) ? { ignoreLease: true } : {}),
    };
  }

  txn(depth: number): TxnRequest {
    const ops = () => Array.from({ length: this.random.int(4) }, () => this.op(depth));
    return {
      compare: Array.from({ length: this.random.int(3) }, () => this.compare()),
      success: ops(),
      failure: ops(),
    };
  }

  command(): Command | 'garbage' | 'empty' {
    const roll = this.random.int(100);
    if (roll < 35) return { type: 'put', request: this.put() };
    if (roll < 45) {
      const rangeEnd = this.rangeEnd();
      return { type: 'deleteRange', request: { key: this.key(), ...(rangeEnd ? { rangeEnd } : {}) } };
    }
    if (roll < 75) return { type: 'txn', request: this.txn(0) };
    if (roll < 80) return { type: 'compact', revision: this.random.int(this.revisionGuess + 2) };
    if (roll < 85) return { type: 'leaseGrant', id: this.random.pick(LEASES), ttl: 1 + this.random.int(60) };
    if (roll < 89) return { type: 'leaseRevoke', id: this.random.pick(LEASES) };
    if (roll < 92) return { type: 'leaseExpire', id: this.random.pick(LEASES) };
    if (roll < 94) return { type: 'leaseKeepAlive', id: this.random.pick(LEASES) };
    if (roll < 97) return 'garbage';
    return 'empty';
  }
}

function entries(seed: number, count: number): { index: number; data: Uint8Array }[] {
  const random = new SeededRandom(seed);
  const gen = new Generator(random);
  const out: { index: number; data: Uint8Array }[] = [];
  for (let i = 1; i <= count; i++) {
    const cmd = gen.command();
    if (cmd === 'garbage') {
      // A damaged valid command: truncated or with one byte changed (it may still decode).
      const data = encodeCommand({ type: 'txn', request: gen.txn(0) });
      if (random.chance(0.5)) out.push({ index: i, data: data.subarray(0, random.int(data.byteLength)) });
      else {
        data[random.int(data.byteLength)] = random.int(256);
        out.push({ index: i, data });
      }
    } else if (cmd === 'empty') out.push({ index: i, data: new Uint8Array(0) });
    else out.push({ index: i, data: encodeCommand(cmd) });
    // Roughly track the revision so compares and reads hit interesting values.
    gen.revisionGuess += cmd === 'garbage' || cmd === 'empty' ? 0 : 1;
  }
  return out;
}

function applySplit(
  sm: KvStateMachine,
  all: readonly { index: number; data: Uint8Array }[],
  random: SeededRandom | undefined,
): (ApplyResult | undefined)[] {
  const results: (ApplyResult | undefined)[] = [];
  let i = 0;
  while (i < all.length) {
    const n = random === undefined ? 1 : 1 + random.int(50);
    results.push(...sm.applyEntries(all.slice(i, i + n)));
    i += n;
  }
  return results;
}

function state(sm: KvStateMachine) {
  const reads = [];
  for (let rev = Math.max(1, sm.compactRevision()); rev <= sm.revision(); rev++) {
    reads.push(sm.range({ key: ZERO, rangeEnd: ZERO, revision: rev }));
  }
  return {
    hash: sm.hash(),
    applied: sm.appliedIndex(),
    revision: sm.revision(),
    compact: sm.compactRevision(),
    leases: sm.leases(),
    history: sm.history(sm.compactRevision() + 1, ZERO, ZERO, 1_000_000),
    reads,
  };
}

for (const seed of [1, 2, 3, 4, 5]) {
  test(`seed ${seed}: same entries in different batch splittings give the same results and state`, () => {
    const log = entries(seed, 1500);
    const one = KvStateMachine.open(':memory:', { logger: quietLogger });
    const many = KvStateMachine.open(':memory:', { logger: quietLogger });
    const seenOne: RevisionEvents[] = [];
    one.subscribe((r) => seenOne.push(r)); // only `one` records events: results must not depend on it
    const resultsOne = applySplit(one, log, undefined);
    const resultsMany = applySplit(many, log, new SeededRandom(seed * 1000));
    assert.equal(resultsMany, resultsOne);
    assert.equal(state(many), state(one));

    // A third replica catches up from a snapshot taken half way and then applies the rest.
    const half = KvStateMachine.open(':memory:', { logger: quietLogger });
    applySplit(half, log.slice(0, 700), new SeededRandom(seed));
    const late = KvStateMachine.open(':memory:', { logger: quietLogger });
    late.restore(half.snapshot());
    const resultsLate = applySplit(late, log, new SeededRandom(seed + 7));
    assert.equal(resultsLate.slice(700), resultsOne.slice(700));
    assert.ok(resultsLate.slice(0, 700).every((r) => r === undefined));
    assert.equal(state(late), state(one));

    // The live events are the history, and something of everything happened.
    const lastCompact = one.compactRevision();
    assert.equal(
      seenOne.filter((r) => r.revision > lastCompact),
      state(one).history.events,
    );
    assert.ok(one.revision() > 300, `revision ${one.revision()}`);
    assert.ok(lastCompact > 0, 'some compaction succeeded');
    const failures = new Set(
      resultsOne.filter((r) => r && !r.ok).map((r) => (r as { error: { code: string } }).error.code),
    );
    for (const code of ['MK_INVALID_ARGUMENT', 'MK_LEASE_NOT_FOUND', 'MK_COMPACTED'])
      assert.ok(failures.has(code), code);
    for (const sm of [one, many, half, late]) sm.close();
  });
}

test.run();
