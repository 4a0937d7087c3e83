// Linearizability checker for a key-value store history.
//
// Algorithm: Wing & Gong's search with Lowe's memoization ("just-in-time
// linearization" + cache of visited configurations), as popularised by
// Porcupine, plus P-compositionality (Horn & Kroening): a KV store is a
// product of independent registers, so a history is linearizable iff every
// per-key sub-history is. Checking keys separately turns one exponential
// search into many small ones.
//
// Real-time order: op a precedes op b iff a.ret < b.call (strictly). Ops whose
// intervals merely touch (a.ret === b.call) are treated as concurrent. With
// coarse simulator ticks, a return and a call stamped with the same tick may
// have happened in either order, so assuming an order could report violations
// that never happened; treating them as concurrent can only miss a violation,
// never invent one. Concretely, at equal timestamps call events sort before
// return events.
//
// Pending ops (ret === Infinity, no output): the client never learned the
// outcome, so the op may have taken effect at any point after its call, with
// any output, or never at all. We put their return events at the end of time
// and accept any output for them; "never took effect" is the same as
// "linearized after everything else", so the search simply succeeds once all
// *completed* ops are linearized and leaves the pending ones out.

export type KvInput =
  | { op: 'put'; key: string; value: string }
  | { op: 'get'; key: string }
  | { op: 'delete'; key: string };
// get returns {value}, put/delete return {ok:true}
export type KvOutput = { value: string | undefined } | { ok: true };

export interface Operation {
  client: number;
  input: KvInput;
  // Logical timestamps. ret === Infinity (and output undefined) means the
  // outcome is unknown (timeout/crash).
  call: number;
  ret: number;
  output?: KvOutput;
}

export type CheckResult =
  | { ok: true; keys: number; operations: number }
  | { ok: false; key: string; reason: string; operations: Operation[] }
  | { ok: 'unknown'; key: string; reason: string };

// Search budget per key. Exceeding it yields 'unknown' (never a pass): the
// search is exponential in the worst case and a test must not hang.
export const DEFAULT_MAX_STEPS = 5_000_000;

// ---------------------------------------------------------------------------
// Bitset: the set of already-linearized ops, part of the memo key.

export class Bitset {
  private words: Uint32Array;

  constructor(bits = 0) {
    this.words = new Uint32Array(Math.max(1, Math.ceil(bits / 32)));
  }

  set(i: number): void {
    const w = i >>> 5;
    if (w >= this.words.length) {
      // Grow geometrically; new words are zero.
      const next = new Uint32Array(Math.max(w + 1, this.words.length * 2));
      next.set(this.words);
      this.words = next;
    }
    this.words[w] = (this.words[w] ?? 0) | (1 << (i & 31));
  }

  clear(i: number): void {
    const w = i >>> 5;
    if (w < this.words.length) this.words[w] = (this.words[w] ?? 0) & ~(1 << (i & 31));
  }

  has(i: number): boolean {
    const w = i >>> 5;
    return w < this.words.length && ((this.words[w] ?? 0) & (1 << (i & 31))) !== 0;
  }

  clone(): Bitset {
    const b = new Bitset(0);
    b.words = this.words.slice();
    return b;
  }

  // Trailing zero words are ignored by hash() and equals() so that bitsets of
  // different capacity but equal contents compare equal.
  private usedWords(): number {
    let n = this.words.length;
    while (n > 0 && this.words[n - 1] === 0) n--;
    return n;
  }

  hash(): number {
    // FNV-1a over 32-bit words.
    let h = 0x811c9dc5;
    const n = this.usedWords();
    for (let i = 0; i < n; i++) {
      h = Math.imul(h ^ (this.words[i] ?? 0), 0x01000193);
    }
    return h >>> 0;
  }

  equals(other: Bitset): boolean {
    const n = this.usedWords();
    if (n !== other.usedWords()) return false;
    for (let i = 0; i < n; i++) {
      if (this.words[i] !== other.words[i]) return false;
    }
    return true;
  }
}

// ---------------------------------------------------------------------------
// Input validation.

function describe(op: Operation): string {
  const i = op.input;
  const args =
    i.op === 'put' ? `${JSON.stringify(i.key)}, ${JSON.stringify(i.value)}` : JSON.stringify(i.key);
  let out = '?';
  if (op.output !== undefined) {
    out = 'value' in op.output ? String(JSON.stringify(op.output.value)) : 'ok';
  }
  return `client ${op.client}: ${i.op}(${args}) -> ${out} [${op.call}, ${op.ret}]`;
}

function validate(op: Operation, index: number): void {
  const where = `history[${index}]`;
  if (!Number.isFinite(op.call)) throw new Error(`${where}: call must be a finite number, got ${op.call}`);
  if (Number.isNaN(op.ret) || op.ret === -Infinity) {
    throw new Error(`${where}: ret must be a number or Infinity, got ${op.ret}`);
  }
  if (op.call > op.ret) throw new Error(`${where}: call (${op.call}) > ret (${op.ret})`);
  const kind: string = op.input.op;
  if (kind !== 'put' && kind !== 'get' && kind !== 'delete') {
    throw new Error(`${where}: unknown op kind ${JSON.stringify(kind)}`);
  }
  if (typeof op.input.key !== 'string') throw new Error(`${where}: key must be a string`);
  if (op.input.op === 'put' && typeof op.input.value !== 'string') {
    throw new Error(`${where}: put value must be a string`);
  }
  if (op.ret === Infinity) {
    if (op.output !== undefined)
      throw new Error(`${where}: pending op (ret=Infinity) must not have an output`);
    return;
  }
  if (op.output === undefined) throw new Error(`${where}: completed op (finite ret) must have an output`);
  const isGetOutput = 'value' in op.output;
  if (op.input.op === 'get' && !isGetOutput) throw new Error(`${where}: get must return {value}`);
  if (op.input.op !== 'get' && !('ok' in op.output && op.output.ok === true)) {
    throw new Error(`${where}: ${op.input.op} must return {ok: true}`);
  }
}

// ---------------------------------------------------------------------------
// Per-key search.

// Register model with values interned to small ints (0 = undefined), so states
// are cheap to compare and hash.
interface ModelOp {
  id: number;
  kind: 'put' | 'get' | 'delete';
  arg: number; // put: value written
  out: number; // get: value read; -1 = unconstrained (pending)
  pending: boolean;
}

// Doubly linked list node: one per call event and one per return event.
interface Node {
  op: ModelOp;
  isCall: boolean;
  match: Node | null; // call -> its return node
  prev: Node | null;
  next: Node | null;
}

// Returns the new state, or -1 if the op cannot happen in `state`.
function step(state: number, op: ModelOp): number {
  switch (op.kind) {
    case 'put':
      return op.arg;
    case 'delete':
      return 0;
    case 'get':
      return op.out === -1 || op.out === state ? state : -1;
  }
}

type KeyResult = { ok: true } | { ok: false; reason: string } | { ok: 'unknown'; reason: string };

function checkKey(ops: readonly Operation[], maxSteps: number): KeyResult {
  const values = new Map<string, number>();
  const intern = (v: string | undefined): number => {
    if (v === undefined) return 0;
    let id = values.get(v);
    if (id === undefined) {
      id = values.size + 1;
      values.set(v, id);
    }
    return id;
  };

  const modelOps: ModelOp[] = ops.map((o, id) => {
    const pending = o.ret === Infinity;
    const out = !pending && o.output !== undefined && 'value' in o.output ? intern(o.output.value) : -1;
    const arg = o.input.op === 'put' ? intern(o.input.value) : 0;
    return { id, kind: o.input.op, arg, out, pending };
  });

  // Events sorted by time; at equal time calls come first (touching intervals
  // are concurrent, see top of file). Ties otherwise keep op order (stable).
  const events: { time: number; node: Node }[] = [];
  for (const op of modelOps) {
    const ret: Node = { op, isCall: false, match: null, prev: null, next: null };
    const call: Node = { op, isCall: true, match: ret, prev: null, next: null };
    const src = ops[op.id]!;
    events.push({ time: src.call, node: call }, { time: src.ret, node: ret });
  }
  events.sort((a, b) => {
    if (a.time !== b.time) return a.time < b.time ? -1 : 1; // (Infinity - Infinity is NaN)
    return Number(!a.node.isCall) - Number(!b.node.isCall);
  });

  // Sentinel head simplifies lift/unlift.
  const dummy: ModelOp = { id: -1, kind: 'get', arg: 0, out: -1, pending: true };
  const head: Node = { op: dummy, isCall: false, match: null, prev: null, next: null };
  let tail = head;
  for (const { node } of events) {
    node.prev = tail;
    tail.next = node;
    tail = node;
  }

  // Linearizing an op removes its call and return from the list; undoing it
  // puts them back. Nodes keep their own prev/next, so unlift is O(1).
  const lift = (call: Node): void => {
    call.prev!.next = call.next;
    if (call.next) call.next.prev = call.prev;
    const ret = call.match!;
    ret.prev!.next = ret.next;
    if (ret.next) ret.next.prev = ret.prev;
  };
  const unlift = (call: Node): void => {
    const ret = call.match!;
    ret.prev!.next = ret;
    if (ret.next) ret.next.prev = ret;
    call.prev!.next = call;
    if (call.next) call.next.prev = call;
  };

  // Memo of visited (linearized set, state) configurations: reaching one
  // twice cannot lead anywhere new (Lowe's optimisation).
  const cache = new Map<number, { bits: Bitset; state: number }[]>();
  const remember = (bits: Bitset, state: number): boolean => {
    const h = (Math.imul(bits.hash(), 31) + state) | 0;
    const bucket = cache.get(h);
    if (bucket === undefined) {
      cache.set(h, [{ bits: bits.clone(), state }]);
      return true;
    }
    for (const e of bucket) if (e.state === state && e.bits.equals(bits)) return false;
    bucket.push({ bits: bits.clone(), state });
    return true;
  };

  let remainingCompleted = modelOps.filter((o) => !o.pending).length;
  const linearized = new Bitset(modelOps.length);
  const stack: { call: Node; prevState: number }[] = [];
  let state = 0;
  let entry = head.next;
  let steps = 0;
  // Deepest point reached, for the failure report.
  let best = -1;
  let bestBlocker: ModelOp | null = null;

  while (remainingCompleted > 0) {
    if (++steps > maxSteps) {
      return {
        ok: 'unknown',
        reason: `search exceeded maxSteps=${maxSteps} (${ops.length} ops on this key)`,
      };
    }
    // Invariant: while a completed op is unlinearized, its return node is in
    // the list, so the walk meets a return before running off the end.
    const node = entry!;
    if (node.isCall) {
      const next = step(state, node.op);
      if (next !== -1) {
        linearized.set(node.op.id);
        if (remember(linearized, next)) {
          stack.push({ call: node, prevState: state });
          state = next;
          if (!node.op.pending) remainingCompleted--;
          lift(node);
          entry = head.next;
          continue;
        }
        linearized.clear(node.op.id);
      }
      entry = node.next;
    } else {
      // Reached the return of an op that is not yet linearized: every op
      // that could go next has been tried, so backtrack.
      if (stack.length > best) {
        best = stack.length;
        bestBlocker = node.op;
      }
      const top = stack.pop();
      if (top === undefined) {
        const blocker = bestBlocker ? ops[bestBlocker.id]! : undefined;
        return {
          ok: false,
          reason:
            `not linearizable: at most ${best} of ${ops.length} ops could be linearized` +
            (blocker ? `; then stuck on ${describe(blocker)}` : ''),
        };
      }
      state = top.prevState;
      linearized.clear(top.call.op.id);
      if (!top.call.op.pending) remainingCompleted++;
      unlift(top.call);
      entry = top.call.next;
    }
  }
  return { ok: true };
}

// ---------------------------------------------------------------------------

/**
 * A put whose outcome is unknown (ret = Infinity) and whose unique value no read ever returned
 * can be left out: any linearization that places it has no read between it and the next write
 * (such a read would have returned its value), so the same order without it is valid too.
 * Pending puts are what makes the search explode after a fault-heavy run, so this keeps the
 * checker decisive. (Only puts: a pending delete is observable as a read of nothing.)
 */
function withoutUnobservedPendingPuts(ops: readonly Operation[]): Operation[] {
  const observed = new Set<string>();
  for (const op of ops) {
    if (op.input.op === 'get' && op.output && 'value' in op.output && op.output.value !== undefined)
      observed.add(op.output.value);
  }
  return ops.filter(
    (op) => !(op.ret === Number.POSITIVE_INFINITY && op.input.op === 'put' && !observed.has(op.input.value)),
  );
}

export function checkKvHistory(history: readonly Operation[], limits?: { maxSteps?: number }): CheckResult {
  const maxSteps = limits?.maxSteps ?? DEFAULT_MAX_STEPS;
  const byKey = new Map<string, Operation[]>();
  history.forEach((op, i) => {
    validate(op, i);
    let list = byKey.get(op.input.key);
    if (list === undefined) {
      list = [];
      byKey.set(op.input.key, list);
    }
    list.push(op);
  });

  // A definite failure on any key wins over 'unknown' on another, so keep
  // going after an 'unknown'.
  let unknown: { key: string; reason: string } | null = null;
  for (const [key, ops] of byKey) {
    const r = checkKey(withoutUnobservedPendingPuts(ops), maxSteps);
    if (r.ok === false) return { ok: false, key, reason: r.reason, operations: ops };
    if (r.ok === 'unknown' && unknown === null) unknown = { key, reason: r.reason };
  }
  if (unknown !== null) return { ok: 'unknown', ...unknown };
  return { ok: true, keys: byKey.size, operations: history.length };
}
