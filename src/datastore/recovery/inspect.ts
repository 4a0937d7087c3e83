/**
 * What a stopped node's Raft log says: its last index and term, its hard state and the membership
 * at its end (snapshot membership plus every membership entry after it, each in effect once
 * appended, as the core reads it). Opening the log runs the same recovery as a start would (a
 * torn tail is truncated); a damaged log is MK_DATA_CORRUPTION and is left as it is.
 */
import { createLogger } from '../../lib/log.js';
import { applyConfChange, decodeConfChange } from '../raft/membership.js';
import { type ConfState, EntryType, type HardState } from '../raft/types.js';
import { DurableLog } from '../storage/durable-log.js';

export interface LogFacts {
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly hardState: HardState;
  readonly conf: ConfState;
}

const PAGE_BYTES = 64 * 1024 * 1024;

export async function inspectLog(raftDir: string): Promise<LogFacts> {
  const log = await DurableLog.open(raftDir, { logger: createLogger('datastore.recovery.log') });
  try {
    let conf = log.snapshot().meta.conf;
    const last = log.lastIndex();
    for (let lo = log.firstIndex(); lo <= last; ) {
      const page = log.entries(lo, last + 1, PAGE_BYTES);
      for (const e of page)
        if (e.type === EntryType.ConfChange) conf = applyConfChange(conf, decodeConfChange(e.data));
      if (page.length === 0) break;
      lo += page.length;
    }
    return {
      lastIndex: last,
      lastTerm: log.term(last) ?? 0,
      hardState: log.initialState().hardState,
      conf,
    };
  } finally {
    await log.close();
  }
}
