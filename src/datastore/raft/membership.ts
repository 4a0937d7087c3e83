/** Membership: the three roles, quorums, and the encoding of a change in a log entry. */
import { assert } from '../../lib/assert.js';
import { MicroK8sError } from '../../lib/errors.js';
import type { ConfChange, ConfState, Member, NodeId, Role } from './types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ROLES: readonly Role[] = ['voter', 'standby', 'spare'];

export function encodeConfChange(change: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify(change));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const value = JSON.parse(decoder.decode(data)) as ConfChange;
  assert(Number.isInteger(value.id) && value.id > 0, 'conf change without a valid id');
  assert(
    value.kind === 'remove' || (value.kind === 'set-role' && ROLES.includes(value.role)),
    'bad conf change',
  );
  return value;
}

export function roleOf(conf: ConfState, id: NodeId): Role | undefined {
  for (const m of conf.members) if (m.id === id) return m.role;
  return undefined;
}

export function voters(conf: ConfState): NodeId[] {
  return conf.members.filter((m) => m.role === 'voter').map((m) => m.id);
}

/** The members that receive log entries (voters and standbys). */
export function replicated(conf: ConfState): NodeId[] {
  return conf.members.filter((m) => m.role !== 'spare').map((m) => m.id);
}

export function quorum(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  const members: Member[] = conf.members.filter((m) => m.id !== change.id);
  if (change.kind === 'set-role') members.push({ id: change.id, role: change.role });
  members.sort((a, b) => a.id - b.id);
  return { members };
}

export function validateConfState(conf: ConfState): void {
  const seen = new Set<NodeId>();
  for (const m of conf.members) {
    if (!Number.isInteger(m.id) || m.id <= 0 || seen.has(m.id) || !ROLES.includes(m.role)) {
      throw new MicroK8sError('MK_INVALID_CONFIG', `invalid membership entry ${JSON.stringify(m)}`);
    }
    seen.add(m.id);
  }
}

export function describeConf(conf: ConfState): string {
  return conf.members.map((m) => `${m.id}:${m.role}`).join(',');
}
