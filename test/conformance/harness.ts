/**
 * How a conformance case runs: it is written once, as a function of a `Ctx`, and runs against
 * each target (in parallel). Every step records the normal form of its answer (or of its error)
 * under a label; the two targets' records are then compared label by label. A case may also
 * `expect` things of every target (for example a lease expiring within TTL + 1 s): an unmet
 * expectation is a failure even when both targets agree, and with one target alone it is the
 * only check.
 *
 * Where ours differs from etcd for a known reason, the case lists the step label in `known` with
 * the reason (a bug to fix, or a deliberate difference): the difference is then printed, not
 * failed, so the suite stays green and honest.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';
import type { RawClient } from './grpc.js';
import { unary } from './grpc.js';
import { decodeCtlJson, differences, Normalizer, normalError, stable } from './normalize.js';
import type { CtlResult, Target, TargetName } from './targets.js';

export const CASE_TIMEOUT_MS = 30_000;
const SETTLE_TIMEOUT_MS = 10_000;

export interface Case {
  /** Short id, also the key prefix: /conf/<id>/ */
  readonly id: string;
  readonly name: string;
  run(ctx: Ctx): Promise<void>;
  /** Step label (or "prefix*") -> why ours may differ from etcd there. */
  readonly known?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

export interface CtlOptions {
  endpoints?: string[];
  input?: string;
  timeoutMs?: number;
  /** stdout is JSON (-w json): parse, decode base64 bytes, normalise. */
  json?: boolean;
  /** Rewrite stdout before recording (ids, timings). */
  transform?: (stdout: string) => unknown;
}

export interface StepRecord {
  readonly label: string;
  readonly value: unknown;
}

export interface CaseResult {
  readonly target: TargetName;
  readonly steps: StepRecord[];
  readonly unmet: { label: string; detail: string }[];
  readonly notes: string[];
}

export class Ctx {
  readonly steps: StepRecord[] = [];
  readonly unmet: { label: string; detail: string }[] = [];
  readonly notes: string[] = [];
  private readonly labels = new Map<string, number>();

  constructor(
    readonly target: Target,
    readonly prefix: string,
    readonly c: Etcd3,
    readonly raw: RawClient,
    readonly n: Normalizer,
  ) {}

  get base(): number {
    return this.n.base;
  }

  /** A key of this case: prefix + name, as bytes. */
  key(name = ''): Buffer {
    return Buffer.from(this.prefix + name);
  }

  /** The end of this case's prefix range (prefix + 1). */
  prefixEnd(prefix = this.prefix): Buffer {
    return prefixEnd(Buffer.from(prefix));
  }

  /** The absolute revision `delta` after the baseline, as int64 text. */
  abs(delta: number): string {
    return String(this.base + delta);
  }

  private unique(label: string): string {
    const seen = this.labels.get(label) ?? 0;
    this.labels.set(label, seen + 1);
    return seen === 0 ? label : `${label}#${seen + 1}`;
  }

  /** Record a value in normal form. */
  record(label: string, value: unknown): void {
    this.steps.push({ label: this.unique(label), value: this.n.value(value) });
  }

  /** Record a value as it is (already target-independent). */
  note(label: string, value: unknown): void {
    this.steps.push({ label: this.unique(label), value });
  }

  /** Run a request; record its answer or its error. Resolves undefined on error. */
  async step<T>(label: string, request: Promise<T> | (() => Promise<T>)): Promise<T | undefined> {
    try {
      const value = await (typeof request === 'function' ? request() : request);
      this.record(label, value);
      return value;
    } catch (error) {
      this.note(label, { error: normalError(error) });
      return undefined;
    }
  }

  /** Like step, but an error ends the case (it is recorded first). */
  async must<T>(label: string, request: Promise<T> | (() => Promise<T>)): Promise<T> {
    try {
      const value = await (typeof request === 'function' ? request() : request);
      this.record(label, value);
      return value;
    } catch (error) {
      this.note(label, { error: normalError(error) });
      throw new Error(`${label} failed: ${stable(normalError(error))}`);
    }
  }

  /** Run a request whose answer is not compared (it differs by nature); an error ends the case. */
  async quiet<T>(label: string, request: Promise<T> | (() => Promise<T>)): Promise<T> {
    try {
      return await (typeof request === 'function' ? request() : request);
    } catch (error) {
      this.note(label, { error: normalError(error) });
      throw new Error(`${label} failed: ${stable(normalError(error))}`);
    }
  }

  /** A check of one target only (not compared): unmet, it fails the case. */
  check(label: string, ok: boolean, detail = ''): void {
    if (!ok) this.unmet.push({ label, detail });
  }

  /** An expectation of every target; recorded, and unmet ones fail the case. */
  expect(label: string, ok: boolean, detail = ''): void {
    this.note(label, { expect: ok });
    if (!ok) this.unmet.push({ label, detail });
  }

  /**
   * Wait (bounded) until the member behind `raw` has applied `revision`: a member answers a
   * write it served only once applied, but one that did not serve it may still lag (on etcd as on
   * ours). Before recording a header that reflects the member's own revision (watch created,
   * progress), wait for it, or the record depends on timing.
   */
  async settled(revision: string | number, raw: RawClient = this.raw): Promise<void> {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const r = (await unary(raw.kv, 'Range', { key: this.key(), serializable: true, count_only: true })) as {
        header: { revision: string };
      };
      if (Number(r.header.revision) >= Number(revision)) return;
      await sleep(20);
    }
    throw new Error(`${raw.target} did not apply revision ${revision} within ${SETTLE_TIMEOUT_MS} ms`);
  }

  /** A line for the log (measured times and such), never compared. */
  log(line: string): void {
    this.notes.push(line);
  }

  /** Run etcdctl and record exit code, stdout (normalised if JSON) and the "Error:" lines. */
  async ctl(label: string, args: string[], options: CtlOptions = {}): Promise<CtlResult> {
    const r = await this.target.ctl(args, options);
    let stdout: unknown = r.stdout;
    if (options.json && r.exitCode === 0) {
      try {
        stdout = this.n.value(decodeCtlJson(parseJsonExact(r.stdout)));
      } catch {
        stdout = { unparsable: r.stdout };
      }
    } else if (options.transform) {
      stdout = options.transform(r.stdout);
    }
    const errors = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('Error:'))
      .map((l) => l.trim());
    this.note(label, { exit: r.timedOut ? 'timeout' : r.exitCode, stdout, errors });
    return r;
  }
}

/** JSON.parse, with integers too large for a double kept exact as strings (etcd's uint64 ids). */
export function parseJsonExact(text: string): unknown {
  return JSON.parse(text.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"'));
}

export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Poll `fn` until it returns a value (not undefined), bounded. */
export async function until<T>(
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 50,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch {
      // Not yet.
    }
    if (Date.now() >= deadline) return undefined;
    await sleep(everyMs);
  }
}

/** The shared clients of one target, made once per suite. */
export interface TargetClients {
  readonly target: Target;
  readonly c: Etcd3;
  readonly raw: RawClient;
}

export async function runCase(kase: Case, tc: TargetClients): Promise<CaseResult> {
  const prefix = `/conf/${kase.id}/`;
  // The baseline: the store revision when the case starts.
  const base = (await unary(tc.raw.kv, 'Range', { key: Buffer.from(prefix) })) as {
    header: { revision: string };
  };
  const ctx = new Ctx(tc.target, prefix, tc.c, tc.raw, new Normalizer(Number(base.header.revision)));
  const timeoutMs = kase.timeoutMs ?? CASE_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      kase.run(ctx),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (error) {
    ctx.note('aborted', { error: (error as Error).message });
    ctx.unmet.push({ label: 'aborted', detail: (error as Error).message });
  } finally {
    clearTimeout(timer);
  }
  return { target: tc.target.name, steps: ctx.steps, unmet: ctx.unmet, notes: ctx.notes };
}

function knownReason(kase: Case, label: string): string | undefined {
  if (!kase.known) return undefined;
  const base = label.replace(/#\d+$/, '');
  for (const [pattern, reason] of Object.entries(kase.known)) {
    if (pattern === label || pattern === base) return reason;
    if (pattern.endsWith('*') && label.startsWith(pattern.slice(0, -1))) return reason;
  }
  return undefined;
}

export interface Verdict {
  readonly failures: string[];
  /** Differences (or unmet expectations of ours) tolerated by `known`, with reasons. */
  readonly known: string[];
  /** `known` entries that did not show up (fixed? or a single-target run). */
  readonly unseen: string[];
}

/** Compare the targets' records and check the expectations. */
export function verdict(kase: Case, results: readonly CaseResult[]): Verdict {
  const failures: string[] = [];
  const known: string[] = [];
  const seen = new Set<string>();
  for (const r of results) {
    for (const u of r.unmet) {
      const reason = r.target === 'ours' ? knownReason(kase, u.label) : undefined;
      if (reason) {
        known.push(`[ours] ${u.label}: expectation not met (${u.detail}) — ${reason}`);
        seen.add(reason);
      } else {
        failures.push(`[${r.target}] ${u.label}: expectation not met${u.detail ? ` (${u.detail})` : ''}`);
      }
    }
  }
  const etcd = results.find((r) => r.target === 'etcd');
  const ours = results.find((r) => r.target === 'ours');
  if (etcd && ours) {
    const e = new Map(etcd.steps.map((s) => [s.label, s.value]));
    const o = new Map(ours.steps.map((s) => [s.label, s.value]));
    const labels = [...new Set([...etcd.steps.map((s) => s.label), ...ours.steps.map((s) => s.label)])];
    for (const label of labels) {
      const a = e.has(label) ? e.get(label) : '(step not reached)';
      const b = o.has(label) ? o.get(label) : '(step not reached)';
      if (stable(a) === stable(b)) continue;
      const diff = differences(a, b).map((d) => `    ${label}${d.startsWith('.') ? '' : ' '}${d}`);
      const reason = knownReason(kase, label);
      if (reason) {
        known.push(`${label} — ${reason}\n${diff.join('\n')}`);
        seen.add(reason);
      } else {
        failures.push(`${label} differs:\n${diff.join('\n')}`);
      }
    }
  }
  const unseen = Object.entries(kase.known ?? {})
    .filter(([, reason]) => !seen.has(reason))
    .map(([label]) => label);
  return { failures, known, unseen };
}
