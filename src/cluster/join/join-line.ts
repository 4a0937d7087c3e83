/**
 * Where `join` takes its join line from: the argument, or a file / stdin (`--token-file F|-`),
 * so the token need not appear in argv (the process list and shell history show argv).
 */
import { readFile } from 'node:fs/promises';
import { MicroK8sError } from '../../lib/errors.js';

/** A join line is short; more than this from a file is not one. */
const MAX_LINE_BYTES = 4096;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_LINE_BYTES) break;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function readJoinLine(
  argument: string | undefined,
  tokenFile: string | undefined,
): Promise<string> {
  if (argument !== undefined && tokenFile !== undefined) {
    throw new MicroK8sError('MK_INVALID_ARGUMENT', 'give the join line or --token-file, not both');
  }
  if (tokenFile === undefined) {
    if (argument === undefined)
      throw new MicroK8sError(
        'MK_INVALID_ARGUMENT',
        'give the join line printed by add-node, or --token-file',
      );
    return argument;
  }
  let text: string;
  try {
    text = tokenFile === '-' ? await readStdin() : await readFile(tokenFile, 'utf8');
  } catch (error) {
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `cannot read the join line from ${tokenFile}`,
      {},
      { cause: error },
    );
  }
  if (Buffer.byteLength(text) > MAX_LINE_BYTES) {
    throw new MicroK8sError('MK_INVALID_ARGUMENT', `${tokenFile} is larger than a join line`);
  }
  // The line add-node prints may be pasted whole: `microk8s join LINE [--worker]`.
  const words = text
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '' && w !== 'microk8s' && w !== 'join');
  const line = words.find((w) => !w.startsWith('--'));
  if (line === undefined) throw new MicroK8sError('MK_INVALID_ARGUMENT', `${tokenFile} holds no join line`);
  return line;
}
