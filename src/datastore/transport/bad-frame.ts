/** Malformed bytes from a peer: MK_BAD_FRAME, and the shared byte reader failing with it. */
import { ByteReader, type ReadFailure } from '../../lib/bytes.js';
import { MicroK8sError } from '../../lib/errors.js';

export function badFrame(message: string, info: Record<string, unknown> = {}): MicroK8sError {
  return new MicroK8sError('MK_BAD_FRAME', message, info);
}

const frameFailure: ReadFailure = (message, offset) => badFrame(message, { offset });

/** A reader over a peer's bytes: anything malformed is MK_BAD_FRAME. */
export function frameReader(buffer: Uint8Array, start?: number, end?: number): ByteReader {
  return new ByteReader(buffer, frameFailure, start, end);
}
