/**
 * The envelope of a proposal in the Raft log: who proposed it (node id and process incarnation)
 * and a sequence number, then the state-machine command. The proposer recognises its own entry
 * when it applies it, on the leader or on a follower (forwarded proposals), and answers the
 * client with its own, deterministic, apply result.
 */
import { MicroK8sError } from '../../lib/errors.js';

export const PROPOSAL_HEADER_BYTES = 16;

export interface ProposalId {
  readonly node: number;
  readonly incarnation: number;
  readonly seq: number;
}

export function proposalKey(id: ProposalId): string {
  return `${id.node}/${id.incarnation}/${id.seq}`;
}

export function encodeProposal(id: ProposalId, command: Uint8Array): Uint8Array {
  const out = new Uint8Array(PROPOSAL_HEADER_BYTES + command.byteLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, id.node);
  view.setUint32(4, id.incarnation);
  view.setFloat64(8, id.seq);
  out.set(command, PROPOSAL_HEADER_BYTES);
  return out;
}

export function decodeProposal(data: Uint8Array): { id: ProposalId; command: Uint8Array } {
  if (data.byteLength < PROPOSAL_HEADER_BYTES) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `proposal of ${data.byteLength} bytes is shorter than its header`,
    );
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return {
    id: { node: view.getUint32(0), incarnation: view.getUint32(4), seq: view.getFloat64(8) },
    command: data.subarray(PROPOSAL_HEADER_BYTES),
  };
}
