/**
 * One command against the core, inside the batch's SQLite transaction. Deterministic: the result
 * depends only on the command and the state (no clock, no randomness, ordered queries), so every
 * replica computes the same result locally and results never travel through the log.
 */
import { assert, unreachable } from '../../lib/assert.js';
import { MicroK8sError } from '../../lib/errors.js';
import { decodeCommand } from './codec.js';
import {
  CommandRejected,
  compactedError,
  ETCD_MESSAGES,
  futureRevisionError,
  invalidArgument,
  leaseNotFoundError,
} from './failures.js';
import type { KvCore } from './mvcc.js';
import { checkDeleteStatic, checkPutState, checkPutStatic, doDeleteRange, doPut } from './ops.js';
import { applyTxn } from './txn.js';
import type { ApplyResult, Command, CommandResponse, RevisionEvents } from './types.js';

/** Run `body` as one revision; its events, if any, go to `out`. */
function inRevision<T>(core: KvCore, record: boolean, out: RevisionEvents[], body: () => T): T {
  core.beginRevision(record);
  let result: T;
  try {
    result = body();
  } catch (error) {
    core.abortRevision();
    throw error;
  }
  const events = core.endRevision();
  if (events !== undefined) out.push(events);
  return result;
}

function revokeLease(core: KvCore, id: number, record: boolean, out: RevisionEvents[]): number {
  if (!core.leaseExists(id)) throw leaseNotFoundError();
  return inRevision(core, record, out, () => {
    // All keys of the lease go in one revision, in key order.
    for (const row of core.leaseRows(id, record)) core.delete(row);
    core.removeLease(id);
    return core.viewRevision();
  });
}

export function executeCommand(
  core: KvCore,
  cmd: Command,
  record: boolean,
  out: RevisionEvents[],
): CommandResponse {
  switch (cmd.type) {
    case 'put': {
      checkPutStatic(cmd.request);
      checkPutState(core, cmd.request, true);
      return { type: 'put', response: inRevision(core, record, out, () => doPut(core, cmd.request)) };
    }
    case 'deleteRange': {
      checkDeleteStatic(cmd.request);
      return {
        type: 'deleteRange',
        response: inRevision(core, record, out, () => doDeleteRange(core, cmd.request)),
      };
    }
    case 'txn':
      return { type: 'txn', response: inRevision(core, record, out, () => applyTxn(core, cmd.request)) };
    case 'compact': {
      if (cmd.revision <= core.compactRevision) throw compactedError();
      if (cmd.revision > core.revision) throw futureRevisionError();
      core.compact(cmd.revision);
      // The header revision of etcd's CompactionResponse: the store's, not the compacted one.
      return { type: 'compact', revision: core.revision };
    }
    case 'leaseGrant': {
      if (cmd.id <= 0) throw invalidArgument(ETCD_MESSAGES.badLeaseId);
      if (core.leaseExists(cmd.id)) throw invalidArgument(ETCD_MESSAGES.leaseExists);
      core.grantLease(cmd.id, cmd.ttl);
      // A grant changes no key, so no revision (as in etcd).
      return { type: 'leaseGrant', id: cmd.id, ttl: cmd.ttl, revision: core.revision };
    }
    case 'leaseRevoke':
    case 'leaseExpire':
      return { type: 'leaseRevoke', revision: revokeLease(core, cmd.id, record, out) };
    case 'leaseKeepAlive': {
      // The renewal time is the caller's business (a local clock); the state only answers the TTL.
      const lease = core.getLease(cmd.id);
      if (lease === undefined) throw leaseNotFoundError();
      return { type: 'leaseKeepAlive', id: lease.id, ttl: lease.ttl };
    }
    case 'memberSet': {
      const { type: _type, ...info } = cmd;
      core.setMember(info);
      return { type: 'memberSet', id: cmd.id };
    }
    case 'memberAdd': {
      // Two agents may hand out the same id at once: the log decides, the second one is refused.
      if (core.members().some((m) => m.id === cmd.id)) {
        throw new CommandRejected('MK_MEMBER_ID_TAKEN', `member id ${cmd.id} is already recorded`);
      }
      const { type: _type, ...info } = cmd;
      core.setMember(info);
      return { type: 'memberAdd', id: cmd.id };
    }
    case 'memberRemove':
      core.removeMember(cmd.id);
      return { type: 'memberRemove', id: cmd.id };
    default:
      return unreachable(cmd, 'command');
  }
}

/**
 * Decode and execute one entry payload. A malformed payload or a rejected command is a result,
 * not an exception: it is deterministic, and the entries after it must still apply.
 */
export function applyPayload(
  core: KvCore,
  data: Uint8Array,
  record: boolean,
  out: RevisionEvents[],
): ApplyResult {
  let cmd: Command;
  try {
    cmd = decodeCommand(data);
  } catch (error) {
    if (error instanceof MicroK8sError)
      return { ok: false, error: { code: error.code, message: error.message } };
    throw error;
  }
  core.mutations = 0;
  try {
    return { ok: true, response: executeCommand(core, cmd, record, out) };
  } catch (error) {
    if (!(error instanceof CommandRejected)) throw error;
    // Every check runs before the first change; a rejection after one would leave half a command.
    assert(core.mutations === 0, () => `command rejected after ${core.mutations} changes: ${error.message}`);
    return { ok: false, error: error.toCommandError() };
  }
}
