/**
 * Member addresses for `microk8s status`. The node's status report carries ids, roles and
 * placement but no addresses, so they come from the datastore's args file: every
 * `--peer=ID=HOST:PORT[,CLIENT_URL[,DOMAIN[,WEIGHT]]]` line, plus `--id` and `--peer-listen` for
 * the node itself. Status must still show what it can when that file is odd, so a line that does
 * not parse is skipped here rather than failing the command (the daemon validates it strictly).
 */
import { existsSync, readFileSync } from 'node:fs';
import { MicroK8sError } from '../lib/errors.js';

export interface MemberAddress {
  /** HOST:PORT of the member's peer (Raft) listener. */
  readonly peer: string;
  /** The member's etcd client URL, when the args file gives one. */
  readonly clientUrl?: string;
}

export interface ArgsFileFacts {
  /** --data-dir, where the daemon keeps its files (and its admin socket). */
  readonly dataDir?: string;
  /** --client-unix, the node's own etcd socket. */
  readonly clientUnix?: string;
  readonly addresses: ReadonlyMap<number, MemberAddress>;
}

function flagValues(text: string): [string, string][] {
  const out: [string, string][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('--')) continue;
    // Both spellings operators write in args files: `--name=value` and `--name value`.
    const match = /^--([a-z][a-z0-9-]*)(?:=|\s+)(.*)$/.exec(line);
    if (match) out.push([match[1]!, match[2]!.trim()]);
  }
  return out;
}

/** Parse the text of a datastore args file into the node's data dir and members' addresses. */
export function parseArgsFacts(text: string): ArgsFileFacts {
  const addresses = new Map<number, MemberAddress>();
  let id: number | undefined;
  let peerListen: string | undefined;
  let dataDir: string | undefined;
  let clientUnix: string | undefined;
  for (const [name, value] of flagValues(text)) {
    if (name === 'id' && /^\d+$/.test(value)) id = Number(value);
    else if (name === 'peer-listen' && value !== '') peerListen = value;
    else if (name === 'data-dir' && value !== '') dataDir = value;
    else if (name === 'client-unix' && value !== '') clientUnix = value;
    else if (name === 'peer') {
      const m = /^(\d+)=([^,\s]+:\d+)(?:,([^,]*))?/.exec(value);
      if (!m) continue;
      addresses.set(Number(m[1]), { peer: m[2]!, ...(m[3] ? { clientUrl: m[3] } : {}) });
    }
  }
  // A node's own --peer line is optional (the daemon drops it anyway); --peer-listen says the same.
  if (id !== undefined && peerListen !== undefined && !addresses.has(id))
    addresses.set(id, { peer: peerListen });
  return { ...(dataDir ? { dataDir } : {}), ...(clientUnix ? { clientUnix } : {}), addresses };
}

/** The facts of the first args file that exists among `files`; none when there is none. */
export function readArgsFacts(files: readonly string[]): ArgsFileFacts & { file?: string } {
  for (const file of files) {
    if (!existsSync(file)) continue;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new MicroK8sError('MK_INVALID_CONFIG', `cannot read ${file}: ${(error as Error).message}`, {
        file,
      });
    }
    return { ...parseArgsFacts(text), file };
  }
  return { addresses: new Map() };
}
