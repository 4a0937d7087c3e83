/** Shared helpers of the state machine tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { encodeCommand } from '../../src/datastore/state/codec.js';
import { KvStateMachine } from '../../src/datastore/state/kv-store.js';
import type {
  ApplyResult,
  Command,
  CommandResponse,
  DeleteRangeResponse,
  KeyValue,
  PutResponse,
  RevisionEvents,
  TxnRequest,
  TxnResponse,
} from '../../src/datastore/state/types.js';
import { createLogger, type Logger } from '../../src/lib/log.js';

export const quietLogger: Logger = createLogger('test.state', { sink: { write: () => {} } });

export function b(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

export function str(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('utf8');
}

export const ZERO = new Uint8Array([0]);

/** A fresh temporary directory and its cleanup. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'mk8s-state-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A state machine fed one entry per command, with a running log index. */
export class Harness {
  index: number;
  constructor(
    readonly sm: KvStateMachine = KvStateMachine.open(':memory:', { logger: quietLogger }),
    index?: number,
  ) {
    this.index = index ?? sm.appliedIndex();
  }

  apply(cmd: Command): ApplyResult {
    const [result] = this.sm.applyEntries([{ index: ++this.index, data: encodeCommand(cmd) }]);
    assert.ok(result, 'a result for a fresh entry');
    return result;
  }

  applyBatch(cmds: readonly Command[]): (ApplyResult | undefined)[] {
    return this.sm.applyEntries(cmds.map((cmd) => ({ index: ++this.index, data: encodeCommand(cmd) })));
  }

  ok(cmd: Command): CommandResponse {
    const result = this.apply(cmd);
    if (!result.ok) throw new Error(`command failed: ${result.error.code} ${result.error.message}`);
    return result.response;
  }

  fail(cmd: Command): { code: string; message: string } {
    const result = this.apply(cmd);
    assert.ok(!result.ok, `expected ${cmd.type} to fail`);
    return (result as Extract<ApplyResult, { ok: false }>).error;
  }

  put(key: string, value: string, extra: { lease?: number; prevKv?: boolean } = {}): PutResponse {
    const r = this.ok({ type: 'put', request: { key: b(key), value: b(value), ...extra } });
    assert.is(r.type, 'put');
    return (r as Extract<CommandResponse, { type: 'put' }>).response;
  }

  del(key: string, rangeEnd?: Uint8Array, prevKv = false): DeleteRangeResponse {
    const r = this.ok({
      type: 'deleteRange',
      request: { key: b(key), ...(rangeEnd ? { rangeEnd } : {}), ...(prevKv ? { prevKv } : {}) },
    });
    assert.is(r.type, 'deleteRange');
    return (r as Extract<CommandResponse, { type: 'deleteRange' }>).response;
  }

  txn(request: TxnRequest): TxnResponse {
    const r = this.ok({ type: 'txn', request });
    assert.is(r.type, 'txn');
    return (r as Extract<CommandResponse, { type: 'txn' }>).response;
  }

  get(key: string, revision?: number): KeyValue | undefined {
    return this.sm.range({ key: b(key), ...(revision ? { revision } : {}) }).kvs[0];
  }

  /** Collect everything subscribe delivers. */
  record(): RevisionEvents[] {
    const seen: RevisionEvents[] = [];
    this.sm.subscribe((batch) => seen.push(batch));
    return seen;
  }
}

/** The key and value of each kv as strings, for compact assertions. */
export function pairs(kvs: readonly KeyValue[]): [string, string][] {
  return kvs.map((kv) => [str(kv.key), str(kv.value)]);
}

export function keys(kvs: readonly KeyValue[]): string[] {
  return kvs.map((kv) => str(kv.key));
}

/** Expect a MicroK8sError with this code and exact message. */
export function throwsCode(fn: () => unknown, code: string, message?: string): void {
  try {
    fn();
  } catch (error) {
    const e = error as { code?: string; message?: string };
    assert.is(e.code, code, `code of: ${e.message}`);
    if (message !== undefined) assert.is(e.message, message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}
